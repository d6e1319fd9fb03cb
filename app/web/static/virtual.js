// Virtual inputs (the Inputs page): add, remove, signal by hand; live badges.
"use strict";
(function () {
  const AB = window.AB;

  function problem(form, err) {
    const box = form.querySelector("[data-error-for=''], [data-add-error]");
    if (box) box.textContent = err.message + (err.problems || []).map((p) => " " + p.message).join("");
  }

  document.addEventListener("click", async function (ev) {
    const signal = ev.target.closest && ev.target.closest("[data-signal]");
    const remove = ev.target.closest && ev.target.closest("[data-remove-virtual]");
    if (!signal && !remove) return;
    const button = signal || remove;
    const form = button.closest("form");
    button.disabled = true;
    try {
      if (signal) {
        const state = signal.dataset.state;
        const body = state === "pulse" ? { state, pulse_s: 10 } : { state };
        await AB.api("POST", "/api/v1/inputs/V" + signal.dataset.signal + "/signal", body);
        form.querySelector("[data-saved]").textContent = "Signalled " + state + ".";
      } else if (window.confirm("Remove V" + remove.dataset.removeVirtual + "? Those after it move up one.")) {
        await AB.api("DELETE", "/api/v1/virtual-inputs/" + remove.dataset.removeVirtual);
        window.location.reload();
      }
    } catch (err) {
      problem(form, err);
    } finally {
      button.disabled = false;
    }
  });

  const add = document.querySelector("form[data-add-virtual]");
  if (add) {
    add.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      try {
        await AB.api("POST", "/api/v1/virtual-inputs", { name: add.elements.namedItem("name").value });
        window.location.reload();
      } catch (err) {
        problem(add, err);
      }
    });
  }

  document.addEventListener("ab:status", function (ev) {
    for (const v of ev.detail.virtual_inputs || []) {
      const badge = document.querySelector('[data-live-virtual="' + v.label.slice(1) + '"]');
      if (badge) badge.textContent = (v.alarm ? "ACTIVE" : "normal") + (v.signal_lost ? ", signal lost" : "");
    }
  });
})();
