// The Integrations page: "send a test message" and "replay from" (admin), through the API.
"use strict";
(function () {
  function failed(form, err) {
    const box = form.querySelector("[data-form-error]");
    box.textContent = err.message;
    box.hidden = false;
  }

  document.addEventListener("submit", async function (ev) {
    const form = ev.target;
    const test = form.getAttribute("data-test");
    const replay = form.getAttribute("data-replay");
    if (!test && !replay) return;
    ev.preventDefault();
    form.querySelector("[data-form-error]").hidden = true;
    try {
      if (test) {
        await AB.api("POST", "/api/v1/integrations/" + encodeURIComponent(test) + "/test");
      } else {
        const from = parseInt(form.elements.from_seq.value, 10);
        if (!(from >= 1)) throw new Error("give the event number (1 or more) to send again from");
        await AB.api("POST", "/api/v1/integrations/" + encodeURIComponent(replay) + "/replay", { from_seq: from });
      }
      window.location.reload();
    } catch (err) {
      failed(form, err);
    }
  });
})();
