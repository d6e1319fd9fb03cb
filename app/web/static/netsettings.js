// The destinations' settings on the Integrations page (admin): each form is saved on
// its own into the one settings document (PUT /api/v1/integrations/settings), the
// server's problems shown beside the fields they name, a "Send test" once saved,
// and the page warns before unsaved changes are lost (page.js: form[data-changed]).
"use strict";
(function () {
  const AB = window.AB;
  const source = document.getElementById("net-settings");
  if (!source) return;
  let doc = JSON.parse(source.textContent);
  const list = document.querySelector("[data-webhook-list]");
  const template = document.querySelector("[data-webhook-template]");

  function fieldValue(node) {
    const type = node.dataset.type;
    if (type === "bool") return node.checked;
    const text = node.value;
    if (type === "int") return text === "" ? null : Number(text);
    if (type === "nullable-int") return text === "" ? null : Number(text);
    if (type === "list") return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
    return node.tagName === "TEXTAREA" ? text : text.trim();
  }

  function collect(form) {
    const data = {};
    for (const node of form.elements) {
      if (node.name && node.dataset.type && node.dataset.type !== "json") data[node.name] = fieldValue(node);
    }
    return data;
  }

  // the document with this form's part replaced (the others as last saved)
  function documentWith(form) {
    const next = JSON.parse(JSON.stringify(doc));
    const part = form.dataset.net;
    if (part === "sia") {
      next.sia = AB.sia.read(form, doc.sia);
    } else if (part === "sia-json") {
      const text = form.elements.namedItem("sia").value;
      try {
        next.sia = JSON.parse(text);
      } catch (err) {
        throw Object.assign(new Error("the SIA settings are not valid JSON: " + err.message), {
          problems: [{ field: "sia", message: "not valid JSON: " + err.message }],
        });
      }
    } else if (part === "recorders") {
      next.recorders = AB.recorders.read();
    } else if (part === "webhook") {
      const hook = collect(form);
      if (form.dataset.index !== undefined) next.webhooks[Number(form.dataset.index)] = hook;
      else next.webhooks.push(hook);
    } else {
      next[part] = collect(form);
    }
    return next;
  }

  // "webhooks.2.url" -> "url" in webhook form 2; "mqtt.url" -> "url"; other parts: the form's own box
  function local(form, field) {
    const part = form.dataset.net;
    let prefix = part + ".";
    if (part === "webhook") {
      const index = form.dataset.index !== undefined ? Number(form.dataset.index) : doc.webhooks.length;
      prefix = "webhooks." + index + ".";
    }
    if (part === "sia-json" && field.startsWith("sia")) return { name: "sia", text: field.slice(4) };
    if (part === "sia") prefix = "sia.";
    if (field.startsWith(prefix)) return { name: field.slice(prefix.length), text: "" };
    return { name: "", text: field };
  }

  // the box for a dotted field, or for the nearest part of its path that has one
  function boxFor(form, name) {
    const parts = name ? name.split(".") : [];
    for (let n = parts.length; n > 0; n--) {
      const box = form.querySelector('[data-error-for="' + parts.slice(0, n).join(".") + '"]');
      if (box) return { box: box, rest: parts.slice(n).join(".") };
    }
    return { box: form.querySelector('[data-error-for=""]'), rest: name };
  }

  function showProblems(form, err) {
    if (form.dataset.net === "recorders" && err.problems && err.problems.length) {
      AB.recorders.problems(form, err.problems); // one line per path (recorders.js)
      return;
    }
    if (!err.problems || !err.problems.length) {
      AB.forms.showError(form, "", err.message);
      return;
    }
    for (const p of err.problems) {
      const where = local(form, p.field || "");
      const found = where.name ? boxFor(form, where.name) : { box: null, rest: "" };
      if (found.box && found.box.dataset.errorFor !== "") {
        const text = [where.text, found.rest].filter(Boolean).join(".");
        const box = found.box;
        box.textContent = (box.textContent ? box.textContent + " " : "") + (text ? text + ": " : "") + p.message;
        const node = form.elements.namedItem(box.dataset.errorFor);
        if (node && node.setAttribute) node.setAttribute("aria-invalid", "true");
      } else {
        AB.forms.showError(form, "", (p.field ? p.field + ": " : "") + p.message);
      }
    }
  }

  function markChanged(form, changed) {
    if (changed) form.dataset.changed = "";
    else delete form.dataset.changed;
    let badge = form.querySelector("[data-unsaved]");
    if (!badge && changed) {
      badge = document.createElement("span");
      badge.className = "badge dirty";
      badge.dataset.unsaved = "";
      badge.textContent = "unsaved changes";
      form.querySelector(".actions").appendChild(badge);
    }
    if (badge) badge.hidden = !changed;
  }

  // after a save: the masked secrets and the SIA document as the server has them now
  function refresh(form, result) {
    doc = result.document;
    const part = form.dataset.net;
    let saved = doc[part];
    let name = part;
    if (part === "webhook") {
      const index = form.dataset.index !== undefined ? Number(form.dataset.index) : doc.webhooks.length - 1;
      form.dataset.index = String(index);
      saved = doc.webhooks[index];
      name = saved.name;
      form.querySelector("[data-title]").textContent = name;
    }
    if (part === "sia" || part === "sia-json") {
      const json = document.querySelector('form[data-net="sia-json"]');
      const fields = document.querySelector('form[data-net="sia"]');
      json.elements.namedItem("sia").value = JSON.stringify(doc.sia, null, 2);
      AB.sia.fill(fields, doc.sia);
      markChanged(part === "sia" ? json : fields, false);
      name = "sia";
    } else if (part === "recorders") {
      form.elements.namedItem("recorders").value = JSON.stringify(doc.recorders, null, 2);
      AB.recorders.update(result.recorders, doc.recorders);
    } else {
      form.querySelectorAll("[data-secret]").forEach((node) => (node.value = saved[node.name] || ""));
    }
    const test = form.querySelector("[data-send-test]");
    test.dataset.sendTest = name;
    test.hidden = !(name in result.running);
  }

  async function save(form) {
    AB.forms.clearErrors(form);
    if (form.dataset.net === "recorders") AB.recorders.clear(form);
    const saved = form.querySelector("[data-saved]");
    saved.textContent = "";
    const fields = Array.from(form.elements).filter((n) => n.dataset.type);
    if (!fields.map((n) => AB.forms.checkField(form, n)).every(Boolean)) {
      AB.forms.showError(form, "", "Please correct the fields marked below.");
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const result = await AB.api("PUT", "/api/v1/integrations/settings", documentWith(form));
      refresh(form, result);
      const applied = result.applied || {};
      const touched = [].concat(applied.added || [], applied.changed || [], applied.removed || []);
      saved.textContent =
        "Saved at " + new Date().toLocaleTimeString() +
        (touched.length ? "; restarted: " + touched.join(", ") : "; no destination needed a restart") + ".";
      markChanged(form, false);
    } catch (err) {
      showProblems(form, err);
    } finally {
      button.disabled = false;
    }
  }

  async function sendTest(form, button) {
    const saved = form.querySelector("[data-saved]");
    saved.textContent = "Sending a test…";
    try {
      await AB.api("POST", "/api/v1/integrations/" + encodeURIComponent(button.dataset.sendTest) + "/test");
      saved.textContent = "Test sent: " + button.dataset.sendTest + " took it.";
    } catch (err) {
      saved.textContent = "";
      AB.forms.showError(form, "", "The test did not go through: " + err.message);
    }
  }

  async function remove(form) {
    if (form.dataset.index === undefined) {
      form.remove(); // never saved
      return;
    }
    const name = form.querySelector("[data-title]").textContent;
    if (!window.confirm("Remove the webhook " + name + "? It stops at once; added again later, it starts at the log's end.")) return;
    const next = JSON.parse(JSON.stringify(doc));
    next.webhooks.splice(Number(form.dataset.index), 1);
    try {
      await AB.api("PUT", "/api/v1/integrations/settings", next);
      markChanged(form, false);
      document.querySelectorAll("form[data-net]").forEach((f) => markChanged(f, false));
      window.location.reload();
    } catch (err) {
      showProblems(form, err);
    }
  }

  function wire(form) {
    if ("env" in form.dataset) {
      for (const node of form.querySelectorAll("input, select, textarea")) node.disabled = true;
      form.querySelectorAll("button").forEach((b) => (b.hidden = true));
    }
    form.addEventListener("input", function (ev) {
      if (ev.target.dataset && ev.target.dataset.type !== "json") AB.forms.checkField(form, ev.target);
      markChanged(form, true);
      form.querySelector("[data-saved]").textContent = "";
    });
    form.addEventListener("change", () => markChanged(form, true));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      save(form);
    });
    form.addEventListener("click", function (ev) {
      const test = ev.target.closest("[data-send-test]");
      if (test) sendTest(form, test);
      if (ev.target.closest("[data-remove-webhook]")) remove(form);
    });
  }

  const siaForm = document.querySelector('form[data-net="sia"]');
  if (siaForm) {
    AB.sia.fill(siaForm, doc.sia);
    AB.sia.wire(siaForm, () => markChanged(siaForm, true));
  }
  document.querySelectorAll("form[data-net]").forEach(wire);
  const add = document.querySelector("[data-add-webhook]");
  if (add) {
    add.addEventListener("click", function () {
      const form = template.content.firstElementChild.cloneNode(true);
      list.appendChild(form);
      wire(form);
      markChanged(form, true);
      form.querySelector('input[name="name"]').focus();
    });
  }
})();
