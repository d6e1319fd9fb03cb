// Live event tables: new events appear at the top of every table marked
// data-live-events="on" whose filters (channel, kinds) they match.
"use strict";
(function () {
  const AB = window.AB;

  function cell(text, className, label) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (label) td.dataset.label = label;
    td.textContent = text;
    return td;
  }

  function row(e) {
    const tr = document.createElement("tr");
    tr.dataset.seq = e.seq;
    tr.className = "kind-" + e.kind + " new";
    const number = cell("", "num");
    const link = document.createElement("a");
    link.href = "/events/" + e.seq;
    link.title = "Every field of event " + e.seq;
    link.textContent = String(e.seq);
    number.appendChild(link);
    tr.appendChild(number);
    const when = document.createElement("td");
    when.dataset.label = "Time";
    const time = document.createElement("time");
    time.dateTime = e.utc;
    time.title = e.utc;
    time.textContent = AB.clock(e);
    when.appendChild(time);
    if (!e.clock_synced) {
      const flag = document.createElement("span");
      flag.className = "flag";
      flag.title = "The clock was not yet synchronised when this happened";
      flag.textContent = "unsynced";
      when.appendChild(document.createTextNode(" "));
      when.appendChild(flag);
    }
    tr.appendChild(when);
    tr.appendChild(cell(e.kind, "", "Kind"));
    tr.appendChild(cell(e.channel || "—", "wrap", "Channel"));
    const state = document.createElement("td");
    state.className = "wrap";
    state.dataset.label = "State";
    const strong = document.createElement("strong");
    strong.textContent = e.state;
    state.appendChild(strong);
    if (e.summary) {
      const small = document.createElement("small");
      small.className = "summary";
      small.textContent = e.summary;
      state.appendChild(document.createElement("br"));
      state.appendChild(small);
    }
    tr.appendChild(state);
    tr.appendChild(cell(e.cause + (e.source ? ": " + e.source : ""), "wrap", "Cause"));
    tr.appendChild(cell(e.dvr_channel || "", "", "DVR"));
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
      if (!matches(table, e) || body.querySelector('[data-seq="' + e.seq + '"]')) return;
      body.insertBefore(row(e), body.firstChild);
      const max = Number(table.dataset.maxRows || 0);
      while (max > 0 && body.rows.length > max) body.deleteRow(-1);
      const empty = table.closest("section, main").querySelector("[data-empty]");
      if (empty) empty.hidden = true;
    });
  });
})();
