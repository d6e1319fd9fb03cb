// Live channel cards: inputs, outputs, faults, with the actions beside them
// (manual trigger, start/stop, simulated contacts and button).
"use strict";
(function () {
  const AB = window.AB;
  const deadlines = new Map(); // output number -> performance.now() deadline
  const pending = new Set(); // inputs with a simulated change on its way

  function field(card, name) {
    return card.querySelector('[data-field="' + name + '"]');
  }

  function setText(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }

  function renderInput(i) {
    const card = document.querySelector('[data-input="' + i.number + '"]');
    if (!card) return;
    const shown = AB.inputState(i);
    card.dataset.state = shown.state;
    setText(field(card, "state"), shown.word);
    setText(field(card, "why"), shown.why);
    setText(field(card, "contact"), i.contact);
    setText(field(card, "contact_type"), i.contact_type);
    setText(field(card, "kind"), i.kind);
    const bySchedule = i.armed !== null && i.armed_by !== "panel";
    setText(
      field(card, "armed"),
      (i.armed === null ? "—" : i.armed ? "yes" : "no") + (bySchedule ? " (" + i.schedule + ")" : ""),
    );
    const flags = field(card, "flags");
    if (flags) {
      const wanted = (i.chattering ? ["chattering"] : []).concat(i.stuck ? ["stuck"] : []);
      const now = Array.from(flags.children).map((n) => n.textContent);
      if (now.join() !== wanted.join()) {
        flags.replaceChildren();
        for (const name of wanted) {
          const span = document.createElement("span");
          span.className = "flag";
          span.textContent = name;
          flags.appendChild(span);
        }
      }
    }
    const toggle = card.querySelector("[data-sim-input]");
    if (toggle && !pending.has(i.number)) toggle.checked = i.contact === "closed";
  }

  function renderOutput(o) {
    const card = document.querySelector('[data-output="' + o.number + '"]');
    if (!card) return;
    card.dataset.state = o.active ? "active" : "idle";
    setText(field(card, "state"), o.active ? "ACTIVE" : "idle");
    setText(field(card, "relay"), o.energised ? "energised" : "released");
    setText(field(card, "schedule"), o.schedule === null ? "—" : o.schedule + ": " + (o.scheduled ? "on" : "off"));
    setText(field(card, "cause"), o.active ? o.cause + (o.source ? ": " + o.source : "") : "—");
    if (o.until_stopped) {
      deadlines.delete(o.number);
      setText(field(card, "time_left"), "until stopped");
    } else if (o.time_left_ms !== null) {
      deadlines.set(o.number, performance.now() + o.time_left_ms);
      tick();
    } else {
      deadlines.delete(o.number);
      setText(field(card, "time_left"), "—");
    }
  }

  function renderFaults(faults) {
    const list = document.querySelector("[data-fault-list]");
    if (!list) return;
    const template = document.querySelector("template[data-fault-item]");
    list.replaceChildren();
    for (const f of faults) {
      const item = template.content.firstElementChild.cloneNode(true);
      item.querySelector('[data-field="key"]').textContent = f.key;
      item.querySelector('[data-field="message"]').textContent = f.message;
      list.appendChild(item);
    }
    const none = document.querySelector("[data-no-faults]");
    if (none) none.hidden = faults.length > 0;
  }

  // The io process cannot be reached: what the cards showed may no longer be true.
  function unknown() {
    deadlines.clear();
    document.querySelectorAll("[data-input], [data-output]").forEach(function (card) {
      card.dataset.state = "unknown";
      setText(field(card, "state"), "unknown");
      setText(field(card, "time_left"), "—");
    });
    document.querySelectorAll("[data-action]").forEach((n) => (n.disabled = true));
  }

  function render(status) {
    status.inputs.forEach(renderInput);
    status.outputs.forEach(renderOutput);
    renderFaults(status.faults);
    document.querySelectorAll("[data-action]").forEach((n) => (n.disabled = false));
  }

  function tick() {
    const now = performance.now();
    for (const [number, deadline] of deadlines) {
      const card = document.querySelector('[data-output="' + number + '"]');
      if (card) setText(field(card, "time_left"), Math.max(0, (deadline - now) / 1000).toFixed(1) + " s");
    }
  }

  function say(text, bad) {
    const box = document.querySelector("[data-action-message]");
    if (!box) return;
    box.textContent = text;
    box.classList.toggle("bad", Boolean(bad));
  }

  async function act(button) {
    const action = button.dataset.action;
    const n = button.dataset.n;
    button.disabled = true;
    try {
      let status;
      if (action === "trigger") {
        status = await AB.api("POST", "/api/v1/trigger");
        say("Manual trigger sent.");
      } else if (action === "start") {
        const choice = document.querySelector('[data-duration-for="' + n + '"]');
        const seconds = choice && choice.value ? Number(choice.value) : null;
        status = await AB.api("POST", "/api/v1/outputs/" + n + "/start", { duration_s: seconds });
        say("Output " + n + " started " + (seconds ? "for " + seconds + " s." : "until stopped."));
      } else {
        status = await AB.api("POST", "/api/v1/outputs/" + n + "/stop");
        say("Output " + n + " stopped.");
      }
      render(status);
    } catch (err) {
      say("Could not " + action + (n ? " output " + n : "") + ": " + err.message, true);
    } finally {
      button.disabled = false;
    }
  }

  async function simulateInput(toggle) {
    const n = Number(toggle.dataset.simInput);
    pending.add(n);
    try {
      render(await AB.api("POST", "/api/v1/simulation/inputs/" + n, { closed: toggle.checked }));
    } catch (err) {
      toggle.checked = !toggle.checked;
      say("Could not change input " + n + ": " + err.message, true);
    } finally {
      pending.delete(n);
    }
  }

  // The simulated button: pressed while held; requests go out in order.
  let chain = Promise.resolve();
  let held = false;
  function button(pressed) {
    if (held === pressed) return;
    held = pressed;
    const target = document.querySelector("[data-sim-button]");
    if (target) target.classList.toggle("pressed", pressed);
    chain = chain
      .then(() => AB.api("POST", "/api/v1/simulation/button", { pressed }))
      .then(render)
      .catch((err) => say("The simulated button failed: " + err.message, true));
  }

  document.addEventListener("click", function (ev) {
    const target = ev.target.closest("[data-action]");
    if (target) act(target);
  });
  document.addEventListener("change", function (ev) {
    if (ev.target.matches("[data-sim-input]")) simulateInput(ev.target);
  });
  const simButton = document.querySelector("[data-sim-button]");
  if (simButton) {
    simButton.addEventListener("pointerdown", () => button(true));
    for (const name of ["pointerup", "pointerleave", "pointercancel"]) {
      simButton.addEventListener(name, () => button(false));
    }
    simButton.addEventListener("keydown", (ev) => {
      if ((ev.key === " " || ev.key === "Enter") && !ev.repeat) {
        ev.preventDefault();
        button(true);
      }
    });
    simButton.addEventListener("keyup", (ev) => {
      if (ev.key === " " || ev.key === "Enter") button(false);
    });
  }
  document.addEventListener("ab:status", (ev) => render(ev.detail));
  document.addEventListener("ab:io-down", unknown);
  window.setInterval(tick, 200);
})();
