// Live event tables: new events appear at the top of every table marked
// data-live-events="on" whose filters (channel, kinds) they match. A row is a
// clone of the page's <template data-event-row> (the same markup the server
// renders), filled in by its data-field names.
"use strict";
(function () {
  const AB = window.AB;
  const template = document.querySelector("template[data-event-row]");

  function row(e) {
    const tr = template.content.firstElementChild.cloneNode(true);
    const field = (name) => tr.querySelector('[data-field="' + name + '"]');
    tr.dataset.seq = e.seq;
    tr.className = "kind-" + e.kind + " new";
    const seq = field("seq");
    seq.href = "/events/" + e.seq;
    seq.textContent = String(e.seq);
    const time = field("time");
    time.dateTime = e.utc;
    time.title = e.utc;
    time.textContent = AB.clock(e);
    field("unsynced").hidden = e.clock_synced;
    field("kind").textContent = e.kind;
    field("channel").textContent = e.channel || "—";
    field("state").textContent = e.state;
    field("summary").textContent = e.summary || "";
    field("summary").hidden = !e.summary;
    field("cause").textContent = e.cause + (e.source ? ": " + e.source : "");
    field("dvr_channel").textContent = e.dvr_channel || "";
    return tr;
  }

  function matches(table, e) {
    const channel = table.dataset.channel;
    const kinds = table.dataset.kinds ? table.dataset.kinds.split(",") : [];
    return (!channel || e.channel === channel) && (kinds.length === 0 || kinds.includes(e.kind));
  }

  document.addEventListener("ab:event", function (ev) {
    const e = ev.detail;
    document.querySelectorAll('table[data-live-events="on"]').forEach(function (table) {
      const body = table.tBodies[0];
      if (!template || !matches(table, e) || body.querySelector('[data-seq="' + e.seq + '"]')) return;
      body.insertBefore(row(e), body.firstChild);
      const max = Number(table.dataset.maxRows || 0);
      while (max > 0 && body.rows.length > max) body.deleteRow(-1);
      const empty = table.closest("section, main").querySelector("[data-empty]");
      if (empty) empty.hidden = true;
    });
  });
})();
