// The walk test page: start, pulse and confirm each channel, end; the inputs'
// table follows the live status (its walk_test part).
"use strict";
(function () {
  const AB = window.AB;
  const root = document.querySelector("[data-walk]");
  if (!root) return;

  function say(text, bad) {
    const box = root.querySelector("[data-walk-message]");
    box.textContent = text;
    box.classList.toggle("bad", Boolean(bad));
  }

  function cell(row, n, text, cls) {
    const td = row.children[n];
    if (td.textContent !== text) td.textContent = text;
    if (cls !== undefined) td.className = cls;
  }

  function render(walk) {
    root.dataset.running = walk ? "yes" : "no";
    root.querySelector("[data-walk-idle]").hidden = Boolean(walk);
    root.querySelector("[data-walk-live]").hidden = !walk;
    if (!walk) return;
    root.querySelector("[data-walk-by]").textContent = walk.started_by;
    root.querySelector("[data-walk-started]").textContent = walk.started;
    const done = walk.inputs.filter((i) => i.tested).length;
    root.querySelector("[data-walk-count]").textContent = done + " of " + walk.inputs.length + " inputs seen.";
    for (const i of walk.inputs) {
      const row = root.querySelector('[data-walk-input="' + i.number + '"]');
      if (!row) continue;
      const seen = i.tested ? "✓ tested" + (i.alarms > 1 ? " ×" + i.alarms : "") : "waiting…";
      cell(row, 1, seen, i.tested ? "done" : "");
      cell(row, 2, i.changes + " / " + i.bounces);
      cell(row, 3, i.shortest_pulse_ms === null ? "—" : i.shortest_pulse_ms + " ms");
    }
    for (const o of walk.outputs) {
      const box = root.querySelector('[data-walk-result="' + o.number + '"]');
      if (!box) continue;
      const what =
        o.marked_alarm === null
          ? o.pulsed_at ? "Pulsed by " + o.pulsed_by + ": waiting for your answer." : ""
          : (o.marked_alarm ? "✓ marked an alarm" : "✗ NOT marked") + " (" + o.confirmed_by + ")";
      if (box.textContent !== what) box.textContent = what;
    }
  }

  root.addEventListener("click", async function (ev) {
    const button = ev.target.closest("[data-walk-action]");
    if (!button) return;
    const action = button.dataset.walkAction;
    const n = button.dataset.n;
    button.disabled = true;
    try {
      if (action === "start") {
        render((await AB.api("POST", "/api/v1/walk-test/start")).walk_test);
        say("Walk test started: open each door, cross each PIR.");
      } else if (action === "pulse") {
        render((await AB.api("POST", "/api/v1/walk-test/outputs/" + n + "/pulse")).walk_test);
        say("Output " + n + " pulsed for 5 s: did the recorder mark it?");
      } else if (action === "yes" || action === "no") {
        const body = { marked: action === "yes" };
        render((await AB.api("POST", "/api/v1/walk-test/outputs/" + n + "/confirm", body)).walk_test);
        say("Noted for output " + n + ".");
      } else if (action === "end") {
        await AB.api("POST", "/api/v1/walk-test/end");
        window.location.assign("/walk-test/report");
      }
    } catch (err) {
      say("Could not " + action + ": " + err.message, true);
    } finally {
      button.disabled = false;
    }
  });
  document.addEventListener("ab:status", (ev) => render(ev.detail.walk_test));
})();
