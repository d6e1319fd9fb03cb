// Commissioning (issue #19): durations in seconds with recorder-style choices,
// the recorder profile's advice beside each output, the dashboard's custom start
// time, and the bypass / arming override card.
"use strict";
(function () {
  const AB = window.AB;

  // A preset select sets its number field (seconds); typing a number picks
  // the matching preset, or "custom…".
  document.querySelectorAll("select[data-preset-for]").forEach(function (select) {
    const box = select.form && select.form.elements.namedItem(select.dataset.presetFor);
    if (!box) return;
    select.addEventListener("change", function () {
      if (select.value === "custom") {
        box.focus();
        return;
      }
      box.value = select.value;
      box.dispatchEvent(new Event("input", { bubbles: true }));
    });
    box.addEventListener("input", function () {
      const match = Array.from(select.options).find(
        (o) => o.value !== "custom" && box.value !== "" && Number(o.value) === Number(box.value),
      );
      select.value = match ? match.value : "custom";
    });
  });

  // What to set on the recorder, for the chosen make and valid signal.
  const data = document.getElementById("recorder-profiles");
  const profiles = data ? JSON.parse(data.textContent) : {};
  function advise(form) {
    const box = form.querySelector("[data-recorder-advice]");
    const make = form.elements.namedItem("recorder");
    if (!box || !make || !profiles[make.value]) return;
    const checked = form.querySelector('input[name="valid_signal"]:checked');
    const signal = checked ? checked.value : "close";
    const channel = form.elements.namedItem("dvr_channel");
    const p = profiles[make.value];
    const where = channel && channel.value ? "alarm input " + channel.value : "the alarm input";
    box.textContent =
      p.title + ": in " + p.menu + ", set " + where + " to " + p[signal] + "." +
      (p.verified ? "" : " Not yet confirmed on a recorder: check it with the relay test.");
  }
  document.querySelectorAll("form[data-config]").forEach(function (form) {
    if (!form.querySelector("[data-recorder-advice]")) return;
    form.addEventListener("change", () => advise(form));
    form.addEventListener("input", () => advise(form));
  });

  // The dashboard's start picker: "custom…" asks for a number of seconds.
  document.querySelectorAll("[data-custom-duration-for]").forEach(function (box) {
    const select = document.querySelector('[data-duration-for="' + box.dataset.customDurationFor + '"]');
    if (!select) return;
    const custom = select.querySelector("option[data-custom]");
    function sync() {
      box.hidden = select.selectedOptions[0] !== custom;
      custom.value = box.hidden ? "" : box.value;
    }
    select.addEventListener("change", sync);
    box.addEventListener("input", sync);
    sync();
  });

  // Bypass an input, or arm/disarm everything, for a while; end either now.
  function say(card, text, bad) {
    const box = card.querySelector("[data-override-message]");
    box.textContent = text;
    box.classList.toggle("bad", Boolean(bad));
  }
  const card = document.querySelector("[data-overrides]");
  if (card) {
    const form = card.querySelector("[data-override-form]");
    if (form) form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const what = form.elements.namedItem("what").value;
      const hours = Number(form.elements.namedItem("hours").value);
      const reason = form.elements.namedItem("reason").value.trim();
      try {
        if (what.startsWith("bypass:")) {
          const n = what.split(":")[1];
          await AB.api("POST", "/api/v1/inputs/" + n + "/bypass", { hours, reason });
        } else {
          await AB.api("POST", "/api/v1/arming/override", { armed: what === "arm", hours });
        }
        window.location.reload();
      } catch (err) {
        say(card, "Not applied: " + err.message, true);
      }
    });
    card.addEventListener("click", async function (ev) {
      const button = ev.target.closest("[data-override-end]");
      if (!button) return;
      const url =
        button.dataset.overrideEnd === "arming"
          ? "/api/v1/arming/override"
          : "/api/v1/inputs/" + button.dataset.n + "/bypass";
      try {
        await AB.api("DELETE", url);
        window.location.reload();
      } catch (err) {
        say(card, "Not ended: " + err.message, true);
      }
    });
  }
})();
