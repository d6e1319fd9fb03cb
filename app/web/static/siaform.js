// The SIA DC-09 form on the Integrations page: fills its fields (and one fieldset per
// panel account) from the settings document, and reads them back into it; the part
// the form does not show (the receiver's time window) keeps its value.
// Used by netsettings.js (AB.sia.fill, AB.sia.read).
"use strict";
(function () {
  const AB = (window.AB = window.AB || {});
  const ZONE = /^(?:(\d+)\s*\/\s*)?(\d+)\s*[:=]\s*V?(\d+)$/i;
  const CODES = ["alarm", "h24", "fault", "arming", "started", "stopped"];

  function field(form, name) {
    return form.elements.namedItem(name);
  }

  function set(form, name, value) {
    const node = field(form, name);
    if (!node) return;
    if (node.type === "checkbox") node.checked = Boolean(value);
    else node.value = value === null || value === undefined ? "" : String(value);
  }

  function zonesText(zones) {
    return (zones || [])
      .map((z) => (z.area === null || z.area === undefined ? "" : z.area + "/") + z.zone + ":" + z.virtual)
      .join(", ");
  }

  // one fieldset per account, its fields named receiver.accounts.N.<field>
  function addAccount(form, account) {
    const template = document.querySelector("[data-account-template]");
    const row = template.content.firstElementChild.cloneNode(true);
    form.querySelector("[data-sia-accounts]").appendChild(row);
    number(form);
    const values = account || { account: "", key: null, poll_s: 0, zones: [], armed_virtual: null };
    row.querySelector('[data-field="account"]').value = values.account || "";
    row.querySelector('[data-field="key"]').value = values.key || "";
    row.querySelector('[data-field="poll_s"]').value = values.poll_s || 0;
    row.querySelector('[data-field="zones"]').value = zonesText(values.zones);
    row.querySelector('[data-field="armed_virtual"]').value = values.armed_virtual || "";
    return row;
  }

  function number(form) {
    form.querySelectorAll("[data-sia-account]").forEach(function (row, i) {
      row.querySelectorAll("[name], [data-field]").forEach(function (node) {
        if (!node.dataset.field) node.dataset.field = node.name;
        node.name = "receiver.accounts." + i + "." + node.dataset.field;
      });
      row.querySelectorAll("[data-error-for]").forEach(function (box) {
        if (!box.dataset.short) box.dataset.short = box.dataset.errorFor;
        box.dataset.errorFor = "receiver.accounts." + i + "." + box.dataset.short;
      });
    });
  }

  function fill(form, sia) {
    const sender = sia.sender || {};
    set(form, "sender.enabled", sender.enabled);
    for (const which of ["primary", "backup"]) {
      const peer = sender[which] || {};
      set(form, "sender." + which + ".host", peer.host);
      set(form, "sender." + which + ".port", peer.port);
    }
    set(form, "sender.account", sender.account);
    set(form, "sender.key", sender.key);
    set(form, "sender.null_s", sender.null_s);
    const codes = sender.codes || {};
    for (const key of CODES) set(form, "sender.codes." + key, codes[key]);
    set(
      form,
      "sender.zones",
      Object.entries(sender.zones || {})
        .map(([name, zone]) => name + ":" + zone)
        .join(", ")
    );
    const receiver = sia.receiver || {};
    set(form, "receiver.enabled", receiver.enabled);
    set(form, "receiver.port", receiver.port);
    set(form, "receiver.udp", receiver.udp);
    form.querySelector("[data-sia-accounts]").replaceChildren();
    for (const account of receiver.accounts || []) addAccount(form, account);
  }

  function text(form, name) {
    return field(form, name).value.trim();
  }

  function number_or_null(form, name) {
    const value = text(form, name);
    return value === "" ? null : Number(value);
  }

  function peer(form, which) {
    const host = text(form, "sender." + which + ".host");
    const port = number_or_null(form, "sender." + which + ".port");
    return host === "" && port === null ? null : { host: host, port: port };
  }

  // the SIA part of the document from the form; throws with .problems for a zone list it cannot read
  function read(form, before) {
    const sia = JSON.parse(JSON.stringify(before));
    const problems = [];
    const codes = Object.assign({}, (sia.sender || {}).codes);
    for (const key of CODES) codes[key] = number_or_null(form, "sender.codes." + key);
    // name:zone pairs; a name may hold a colon, so the last one splits
    const zones = {};
    for (const part of text(form, "sender.zones").split(",").map((s) => s.trim()).filter(Boolean)) {
      const at = part.lastIndexOf(":");
      const name = at > 0 ? part.slice(0, at).trim() : "";
      const zone = at > 0 ? part.slice(at + 1).trim() : "";
      if (!name || !/^\d+$/.test(zone)) {
        problems.push({
          field: "sia.sender.zones",
          message: "'" + part + "' is not name:zone (e.g. IN1:1, Back door:7)",
        });
        continue;
      }
      zones[name] = Number(zone);
    }
    sia.sender = Object.assign(sia.sender || {}, {
      codes: codes,
      zones: zones,
      enabled: field(form, "sender.enabled").checked,
      primary: peer(form, "primary"),
      backup: peer(form, "backup"),
      account: text(form, "sender.account"),
      key: text(form, "sender.key") || null,
      null_s: number_or_null(form, "sender.null_s"),
    });
    const accounts = Array.from(form.querySelectorAll("[data-sia-account]")).map(function (row, i) {
      const get = (name) => row.querySelector('[data-field="' + name + '"]').value.trim();
      const zones = [];
      for (const part of get("zones").split(",").map((s) => s.trim()).filter(Boolean)) {
        const match = ZONE.exec(part);
        if (!match) {
          problems.push({
            field: "sia.receiver.accounts." + i + ".zones",
            message: "'" + part + "' is not zone:V (e.g. 3:1, or 2/3:1 for area 2)",
          });
          continue;
        }
        const zone = { zone: Number(match[2]), virtual: Number(match[3]) };
        if (match[1] !== undefined) zone.area = Number(match[1]);
        zones.push(zone);
      }
      const armed = get("armed_virtual");
      return {
        account: get("account"),
        key: get("key") || null,
        poll_s: get("poll_s") === "" ? 0 : Number(get("poll_s")),
        zones: zones,
        armed_virtual: armed === "" ? null : Number(armed),
      };
    });
    if (problems.length) {
      throw Object.assign(new Error("a zone list cannot be read"), { problems: problems });
    }
    sia.receiver = Object.assign(sia.receiver || {}, {
      enabled: field(form, "receiver.enabled").checked,
      port: number_or_null(form, "receiver.port"),
      udp: field(form, "receiver.udp").checked,
      accounts: accounts,
    });
    return sia;
  }

  function wire(form, changed) {
    form.querySelector("[data-add-account]").addEventListener("click", function () {
      addAccount(form, null).querySelector("input").focus();
      changed();
    });
    form.addEventListener("click", function (ev) {
      const remove = ev.target.closest("[data-remove-account]");
      if (!remove) return;
      remove.closest("[data-sia-account]").remove();
      number(form);
      changed();
    });
  }

  AB.sia = { fill: fill, read: read, wire: wire };
})();
