// Configuration forms: checked in the browser as you type, then sent as JSON;
// the server's problems are shown beside the fields they name.
"use strict";
(function () {
  const AB = window.AB;

  function endpoint(form) {
    const section = form.dataset.config;
    return "/api/v1/" + section + (form.dataset.n ? "/" + form.dataset.n : "");
  }

  function value(form, name, type) {
    const nodes = Array.from(form.elements).filter((n) => n.name === name);
    if (type === "bool") return nodes[0].checked;
    if (type === "int-list" || type === "int-list-or-null") {
      const picked = nodes.filter((n) => n.checked).map((n) => Number(n.value));
      return type === "int-list-or-null" && picked.length === 0 ? null : picked;
    }
    const node = nodes.find((n) => n.type !== "radio" || n.checked) || nodes[0];
    const text = node.type === "radio" && !node.checked ? "" : node.value;
    if (type === "int") return text === "" ? null : Number(text);
    // seconds on the page, milliseconds in the API (commission.js: the presets)
    if (type === "sec-ms") return text === "" ? null : Math.round(Number(text) * 1000);
    if (type === "nullable-int") return text === "" ? null : Number(text);
    if (type === "nullable-str") return text === "" ? null : text;
    return text;
  }

  function collect(form) {
    const data = {};
    for (const node of form.elements) {
      if (node.name && node.dataset.type && !(node.name in data)) {
        const hidden = "zeroWhenHidden" in node.dataset && node.closest("[hidden]");
        data[node.name] = hidden ? 0 : value(form, node.name, node.dataset.type);
      }
    }
    return data;
  }

  function errorBox(form, name) {
    return form.querySelector('[data-error-for="' + name + '"]');
  }

  // The box for a field, or for the nearest part of its dotted path that has one
  // ("week.mon.1.start", then "week.mon.1", "week.mon", "week"), or the form's own.
  function nearestBox(form, name) {
    const parts = name ? name.split(".") : [];
    for (let n = parts.length; n > 0; n--) {
      const box = errorBox(form, parts.slice(0, n).join("."));
      if (box) return box;
    }
    return errorBox(form, "");
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach((n) => (n.textContent = ""));
    form.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
  }

  function showError(form, name, message) {
    const box = nearestBox(form, name);
    const prefix = box && box.dataset.errorFor === "" && name ? name + ": " : "";
    if (box) box.textContent = (box.textContent ? box.textContent + " " : "") + prefix + message;
    const node = name && form.elements.namedItem(name);
    if (node && node.setAttribute) node.setAttribute("aria-invalid", "true");
  }

  function checkField(form, node) {
    if (!node.name || !node.willValidate) return true;
    const box = errorBox(form, node.name);
    if (node.checkValidity()) {
      if (box) box.textContent = "";
      node.removeAttribute("aria-invalid");
      return true;
    }
    if (box) box.textContent = node.validationMessage;
    node.setAttribute("aria-invalid", "true");
    return false;
  }

  function showWhen(form) {
    form.querySelectorAll("[data-show-when]").forEach(function (node) {
      const [name, wanted] = node.dataset.showWhen.split("=");
      node.hidden = !wanted.split("|").includes(value(form, name, "str"));
    });
  }

  async function save(form) {
    clearErrors(form);
    const saved = form.querySelector("[data-saved]");
    if (saved) saved.textContent = "";
    const fields = Array.from(form.elements).filter((n) => n.dataset.type && !n.closest("[hidden]"));
    if (!fields.map((n) => checkField(form, n)).every(Boolean)) {
      errorBox(form, "").textContent = "Please correct the fields marked below.";
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const result = await AB.api("PUT", endpoint(form), collect(form));
      const title = form.querySelector("[data-title]");
      if (title && result.name) title.textContent = result.name;
      if (saved) saved.textContent = "Saved and applied at " + new Date().toLocaleTimeString() + ".";
      markChanged(form, false);
    } catch (err) {
      if (err.problems && err.problems.length) {
        for (const p of err.problems) showError(form, p.field || "", p.message);
      } else {
        showError(form, "", err.message);
      }
    } finally {
      button.disabled = false;
    }
  }

  // A changed form is marked until it is saved: the page warns before it is left
  // (page.js), and the form says so beside its Save button.
  function markChanged(form, changed) {
    if (changed) form.dataset.changed = "";
    else delete form.dataset.changed;
    let badge = form.querySelector("[data-unsaved]");
    if (!badge && changed) {
      badge = document.createElement("span");
      badge.className = "badge dirty";
      badge.dataset.unsaved = "";
      badge.textContent = "unsaved changes";
      const actions = form.querySelector(".actions");
      if (actions) actions.appendChild(badge);
    }
    if (badge) badge.hidden = !changed;
  }

  // For other pages' forms (schedules.js, netsettings.js): the same checks, error
  // display and unsaved-changes mark.
  AB.forms = { clearErrors, showError, checkField, markChanged };

  document.querySelectorAll("form[data-config]").forEach(function (form) {
    showWhen(form);
    form.addEventListener("change", function () {
      showWhen(form);
      markChanged(form, true);
    });
    form.addEventListener("input", function (ev) {
      checkField(form, ev.target);
      markChanged(form, true);
      const saved = form.querySelector("[data-saved]");
      if (saved) saved.textContent = "";
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      save(form);
    });
  });

  // The live badge beside each input's form: see a change take effect.
  document.addEventListener("ab:status", function (ev) {
    for (const i of ev.detail.inputs) {
      const badge = document.querySelector('[data-live-input="' + i.number + '"]');
      if (badge) badge.textContent = i.contact + ", " + AB.inputWord(i);
    }
  });

  const restore = document.querySelector("form[data-import]");
  if (restore) {
    restore.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const error = restore.querySelector("[data-import-error]");
      const message = restore.querySelector("[data-import-message]");
      error.textContent = "";
      message.textContent = "";
      const file = restore.elements.namedItem("file").files[0];
      if (!file) {
        error.textContent = "Choose a configuration file first.";
        return;
      }
      let doc;
      try {
        doc = JSON.parse(await file.text());
      } catch (err) {
        error.textContent = file.name + " is not a configuration file (not valid JSON).";
        return;
      }
      try {
        await AB.api("PUT", "/api/v1/config", doc);
        message.textContent = "Restored from " + file.name + " and applied. Reloading…";
        window.setTimeout(() => window.location.reload(), 1000);
      } catch (err) {
        error.textContent = "Not restored: " + err.message;
      }
    });
  }
})();
