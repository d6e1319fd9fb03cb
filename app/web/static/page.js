// What every page shares: the menu button on a phone, what the user's role lets
// them do (shown, not only refused), and a warning before unsaved changes are lost.
"use strict";
(function () {
  const AB = (window.AB = window.AB || {});
  const RANK = { viewer: 1, operator: 2, admin: 3 };
  AB.role = document.body.dataset.role || "viewer";

  // True when the user's role is at least ``role``.
  AB.can = function (role) {
    return (RANK[AB.role] || 0) >= (RANK[role] || 99);
  };

  // What an input's card says: red ALARM only when the DVR is being told.
  AB.inputState = function (i) {
    if (!i.enabled) return { state: "disabled", word: "disabled", why: "" };
    if (i.alarm && i.kind === "armed-state") {
      return { state: "info", word: "panel armed", why: "the panel says it is armed" };
    }
    if (i.alarm && i.bypassed) {
      const why = "contact in alarm, but bypassed by an operator for a while: its outputs are not driven";
      return { state: "disarmed", word: "bypassed", why: why };
    }
    if (i.alarm && !i.acts) {
      const by = i.overridden
        ? "disarmed by an operator's override"
        : i.armed_by === "panel" ? "the panel is disarmed" : "not armed by its schedule (" + i.schedule + ")";
      return { state: "disarmed", word: "disarmed", why: "contact in alarm, but " + by + ": its outputs are not driven" };
    }
    if (i.alarm) return { state: "alarm", word: "ALARM", why: "" };
    return { state: "normal", word: "normal", why: "" };
  };
  AB.inputWord = (i) => AB.inputState(i).word;

  // A form that needs a role the user lacks becomes read-only: its fields are
  // disabled and its buttons hidden (by app.css, from body[data-role]). The server
  // refuses anyway; this shows it before anyone tries.
  function readOnly(form) {
    form.classList.add("read-only");
    form.setAttribute("aria-readonly", "true");
    for (const node of form.querySelectorAll("input, select, textarea, button")) node.disabled = true;
    if (!form.querySelector("[data-read-only-note]")) {
      const note = document.createElement("p");
      note.className = "hint read-only-note";
      note.dataset.readOnlyNote = "";
      note.textContent = "Read only: changing this needs the " + form.dataset.needs + " role (you are " + AB.role + ").";
      form.insertBefore(note, form.firstElementChild ? form.firstElementChild.nextSibling : null);
    }
  }

  AB.applyRole = function (root) {
    (root || document).querySelectorAll("form[data-needs]").forEach(function (form) {
      if (!AB.can(form.dataset.needs)) readOnly(form);
    });
  };
  // Configuration forms are the admin's, wherever they are.
  document.querySelectorAll("form[data-config], form[data-schedule], form[data-import]").forEach(function (form) {
    if (!form.dataset.needs) form.dataset.needs = "admin";
  });
  AB.applyRole(document);

  // The menu button (shown on narrow screens instead of the full menu).
  const menu = document.querySelector("[data-menu]");
  if (menu) {
    menu.addEventListener("click", function () {
      const open = menu.getAttribute("aria-expanded") !== "true";
      menu.setAttribute("aria-expanded", String(open));
      document.body.classList.toggle("menu-open", open);
    });
  }

  // Unsaved changes: a form marked data-changed (forms.js) or showing its "unsaved"
  // badge (the schedule editor) makes the browser ask before leaving the page.
  AB.unsaved = function () {
    return Array.from(document.querySelectorAll("form[data-changed], [data-dirty]:not([hidden])"));
  };
  window.addEventListener("beforeunload", function (ev) {
    if (AB.unsaved().length === 0) return;
    ev.preventDefault();
    ev.returnValue = "";
  });
})();
