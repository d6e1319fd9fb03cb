// The "Recorders and cameras" section of the Integrations page (admin): the JSON editor
// of the settings document's "recorders" part (saved by netsettings.js), its problems
// listed by path, a Test button per action and per camera
// (POST /api/v1/integrations/recorders/{name}/test), and the runner's status.
// Used by netsettings.js (AB.recorders.read, .problems, .update).
"use strict";
(function () {
  const AB = (window.AB = window.AB || {});
  const section = document.querySelector("[data-recorders]");
  if (!section) return;
  const STATUS = [
    ["read_seq", "Read up to event"],
    ["cursor", "Done up to event (the durable cursor)"],
    ["pending_events", "Events with jobs in progress"],
    ["events_done", "Events done since the start"],
    ["skipped", "Jobs skipped (too old when their turn came)"],
  ];

  function textarea() {
    return section.querySelector('form[data-net="recorders"] textarea[name="recorders"]');
  }

  // the section from the editor; throws with .problems when it is not a JSON object
  function read() {
    const text = textarea().value.trim();
    let value;
    try {
      value = text === "" ? {} : JSON.parse(text);
    } catch (err) {
      throw Object.assign(new Error("the recorders' settings are not valid JSON: " + err.message), {
        problems: [{ field: "recorders", message: "not valid JSON: " + err.message }],
      });
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw Object.assign(new Error("the recorders' settings are a JSON object"), {
        problems: [{ field: "recorders", message: 'a JSON object: {"actions": [...], "cameras": [...], "links": {...}}' }],
      });
    }
    return value;
  }

  // one line per problem, its path inside the section first
  function problems(form, list) {
    const box = form.querySelector("[data-recorders-problems]");
    box.replaceChildren();
    for (const p of list) {
      const item = document.createElement("li");
      const field = (p.field || "").replace(/^recorders\.?/, "");
      if (field) {
        const code = document.createElement("code");
        code.textContent = field;
        item.append(code, ": ");
      }
      item.append(p.message);
      item.dataset.problemFor = p.field || "";
      box.appendChild(item);
    }
    textarea().setAttribute("aria-invalid", "true");
  }

  function clear(form) {
    form.querySelector("[data-recorders-problems]").replaceChildren();
    textarea().removeAttribute("aria-invalid");
  }

  function testButtons(shown, stored) {
    const list = section.querySelector("[data-recorder-tests]");
    list.replaceChildren();
    const running = shown && shown.status;
    const doc = (shown && shown.document) || stored || {};
    const names = [].concat(
      (doc.actions || []).map((a) => ["action", a.name, a.kind]),
      (doc.cameras || []).map((c) => ["camera", c.camera, c.kind]),
    );
    if (!running || !names.length) {
      const item = document.createElement("li");
      item.className = "empty";
      item.textContent = "Nothing to test: no recorders are running. Save an action or a camera first.";
      list.appendChild(item);
      return;
    }
    for (const [what, name, kind] of names) {
      const item = document.createElement("li");
      item.dataset.recorder = name;
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.recorderTest = name;
      button.textContent = "Test " + name;
      const label = document.createElement("span");
      label.textContent = " (" + what + ", " + kind + ") ";
      const answer = document.createElement("span");
      answer.className = "message";
      answer.dataset.testResult = "";
      answer.setAttribute("role", "status");
      item.append(button, label, answer);
      list.appendChild(item);
    }
  }

  function status(shown) {
    const box = section.querySelector("[data-recorders-status]");
    box.replaceChildren();
    const st = shown && shown.status;
    const add = (term, value) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      box.append(dt, dd);
    };
    if (!st) {
      add("Runner", "not running (none configured)");
      return;
    }
    add("Runner", shown.origin === "environment" ? "running, from " + shown.variable : "running");
    for (const [key, term] of STATUS) add(term, String(st[key]));
    const failing = Object.entries(st.failing || {});
    add("Failing", failing.length ? failing.map(([n, why]) => n + ": " + why).join("; ") : "none");
  }

  function update(shown, stored) {
    testButtons(shown, stored);
    status(shown);
    const badge = section.querySelector("[data-recorders-origin]");
    badge.textContent =
      shown && shown.origin === "environment"
        ? "from " + shown.variable
        : shown && shown.status
          ? "running"
          : "none configured";
  }

  function describe(phase) {
    return (phase.ok ? "ok" : "failed") + ", " + phase.summary;
  }

  async function test(button) {
    const answer = button.parentElement.querySelector("[data-test-result]");
    answer.className = "message";
    answer.textContent = "Testing…";
    button.disabled = true;
    try {
      const result = await AB.api(
        "POST",
        "/api/v1/integrations/recorders/" + encodeURIComponent(button.dataset.recorderTest) + "/test",
      );
      answer.className = "message good";
      answer.textContent = result.snapshot
        ? "Snapshot: " + result.snapshot + " in " + result.elapsed_ms + " ms."
        : "Alarm: " + describe(result.alarm) + ". Clear: " + describe(result.clear) + ".";
    } catch (err) {
      answer.className = "message bad";
      answer.textContent = "Failed: " + err.message;
    } finally {
      button.disabled = false;
    }
  }

  section.addEventListener("click", function (ev) {
    const button = ev.target.closest("[data-recorder-test]");
    if (button) test(button);
    if (ev.target.closest("[data-use-example]")) {
      const area = textarea();
      if (area.disabled) return;
      const example = section.querySelector("[data-example]").textContent;
      if (read_or_empty() && !window.confirm("Replace what is in the editor with the example?")) return;
      area.value = example;
      area.dispatchEvent(new Event("input", { bubbles: true }));
    }
  });

  function read_or_empty() {
    try {
      const value = read();
      return Boolean((value.actions || []).length || (value.cameras || []).length || Object.keys(value.links || {}).length);
    } catch (err) {
      return true;
    }
  }

  const initial = JSON.parse(document.getElementById("net-recorders").textContent);
  const stored = JSON.parse(document.getElementById("net-settings").textContent).recorders;
  update(initial, stored);

  // the status again every 15 s while the page is shown (the tests' answers stay)
  window.setInterval(async function () {
    if (document.hidden) return;
    try {
      const shown = await AB.api("GET", "/api/v1/integrations/settings");
      status(shown.recorders);
    } catch (err) {
      // the network process restarting: the last status stays until the next try
    }
  }, 15000);

  AB.recorders = { read: read, problems: problems, clear: clear, update: update };
})();
