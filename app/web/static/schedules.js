// The Schedules page: edit each schedule's weekly windows and date exceptions,
// check them before sending, show the server's problems beside the windows they
// name (never losing what was typed), and refresh the timeline after a change.
// Field checks and error boxes are forms.js's (AB.forms).
"use strict";
(function () {
  const AB = window.AB;
  const F = AB.forms;
  const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  const NAMES = {
    mon: "Monday", tue: "Tuesday", wed: "Wednesday", thu: "Thursday",
    fri: "Friday", sat: "Saturday", sun: "Sunday",
  };
  const PICKS = { weekdays: DAYS.slice(0, 5), weekend: ["sat", "sun"], all: DAYS };
  const MAX_WINDOWS = 16;
  const windowTemplate = document.getElementById("window-template");
  const exceptionTemplate = document.getElementById("exception-template");
  const pageMessage = document.querySelector("[data-page-message]");
  if (!windowTemplate || !exceptionTemplate) return; // the configuration is not available

  function minutes(text) {
    const [h, m] = text.split(":");
    return Number(h) * 60 + Number(m);
  }

  // The end as sent: in a time field midnight can only be typed as 00:00, and an
  // end of 00:00 means midnight at the end of the day, which the API calls 24:00.
  function endValue(text) {
    return text === "00:00" ? "24:00" : text;
  }

  function rowsOf(list) {
    return Array.from(list.children).filter((n) => n.matches("[data-window]"));
  }

  function part(row, name) {
    return row.querySelector('[data-part="' + name + '"]');
  }

  // --- the rows' names and error boxes follow their position ------------------

  function setPaths(row, path, owner) {
    row.querySelectorAll("[data-sub]").forEach(function (node) {
      if (node.closest(owner) !== row) return;
      if (owner === "[data-exception]" && node.closest("[data-window]")) return;
      const full = path + node.dataset.sub;
      if (node.matches("input")) node.name = full;
      else node.dataset.errorFor = full;
    });
  }

  function renumber(form) {
    form.querySelectorAll("[data-exception]").forEach(function (row, i) {
      const path = "exceptions." + i;
      setPaths(row, path, "[data-exception]");
      row.querySelector("[data-windows]").dataset.windows = path + ".windows";
    });
    form.querySelectorAll("[data-windows]").forEach(function (list) {
      const rows = rowsOf(list);
      rows.forEach((row, j) => setPaths(row, list.dataset.windows + "." + j, "[data-window]"));
      const day = list.closest("[data-day]");
      if (day) day.querySelector("[data-off-day]").hidden = rows.length > 0;
    });
  }

  // --- one window -------------------------------------------------------------

  function describe(row) {
    const start = part(row, "start").value;
    const end = part(row, "end").value;
    const note = row.querySelector("[data-next-day]");
    let text = "";
    if (start && end) {
      if (start === "00:00" && end === "00:00") text = "all day";
      else if (end === "00:00") text = "until midnight";
      else if (minutes(end) < minutes(start)) text = "ends " + end + " the next day";
    }
    note.textContent = text;
  }

  // The checks the browser can make: both times filled, not the same time.
  function checkWindow(form, row) {
    const start = part(row, "start");
    const end = part(row, "end");
    const same = start.value && start.value === end.value && start.value !== "00:00";
    end.setCustomValidity(
      same ? "The end is the same as the start: a window needs a length (00:00 to 00:00 is all day)." : ""
    );
    const a = F.checkField(form, start);
    const b = F.checkField(form, end);
    return a && b;
  }

  function addWindow(form, list, start, end) {
    const count = rowsOf(list).length;
    if (count >= MAX_WINDOWS) {
      F.showError(form, list.dataset.windows, "At most " + MAX_WINDOWS + " windows a day.");
      return null;
    }
    const row = windowTemplate.content.firstElementChild.cloneNode(true);
    part(row, "start").value = start || "";
    part(row, "end").value = end || "";
    list.appendChild(row);
    renumber(form);
    describe(row);
    return row;
  }

  function windowsOf(list) {
    return rowsOf(list).map((row) => ({
      start: part(row, "start").value,
      end: endValue(part(row, "end").value),
    }));
  }

  // --- the whole schedule -------------------------------------------------------

  function collect(form) {
    const week = {};
    for (const day of DAYS) week[day] = windowsOf(form.querySelector('[data-windows="week.' + day + '"]'));
    const exceptions = Array.from(form.querySelectorAll("[data-exception]")).map((row) => ({
      date: part(row, "date").value,
      windows: part(row, "off").checked ? [] : windowsOf(row.querySelector("[data-windows]")),
      note: part(row, "note").value.trim(),
    }));
    return { name: form.elements.namedItem("name").value.trim(), week, exceptions };
  }

  function check(form) {
    let ok = F.checkField(form, form.elements.namedItem("name"));
    form.querySelectorAll("[data-window]").forEach(function (row) {
      if (row.closest("[hidden]")) return; // an exception that is off all day
      ok = checkWindow(form, row) && ok;
    });
    form.querySelectorAll("[data-exception]").forEach(function (row) {
      ok = F.checkField(form, part(row, "date")) && ok;
      const own = !part(row, "off").checked;
      if (own && rowsOf(row.querySelector("[data-windows]")).length === 0) {
        F.showError(form, row.querySelector("[data-windows]").dataset.windows,
          'Add a window, or tick "Off all day".');
        ok = false;
      }
    });
    return ok;
  }

  // A message without a field ("Monday: 08:00-12:00 overlaps 11:00-13:00: ...")
  // goes beside the day or the exception it starts with.
  function placeOf(form, text) {
    for (const day of DAYS) {
      if (text.startsWith(NAMES[day] + ":") || text.startsWith(NAMES[day] + " ")) return "week." + day;
    }
    const date = /^(\d{4}-\d{2}-\d{2})\b/.exec(text);
    if (date) {
      const rows = Array.from(form.querySelectorAll("[data-exception]"));
      const i = rows.findIndex((row) => part(row, "date").value === date[1]);
      if (i >= 0) return "exceptions." + i;
    }
    return "";
  }

  // Mark the windows a message names ("08:00-12:00") in the days and dates it names.
  function markWindows(form, text) {
    const labels = new Set(text.match(/\d\d:\d\d-\d\d:\d\d/g) || []);
    if (!labels.size) return;
    const lists = [];
    for (const day of DAYS) {
      if (text.includes(NAMES[day])) lists.push(form.querySelector('[data-windows="week.' + day + '"]'));
    }
    form.querySelectorAll("[data-exception]").forEach(function (row) {
      if (part(row, "date").value && text.includes(part(row, "date").value)) {
        lists.push(row.querySelector("[data-windows]"));
      }
    });
    for (const list of lists) {
      for (const row of rowsOf(list)) {
        const w = { start: part(row, "start").value, end: endValue(part(row, "end").value) };
        if (labels.has(w.start + "-" + w.end)) {
          part(row, "start").setAttribute("aria-invalid", "true");
          part(row, "end").setAttribute("aria-invalid", "true");
        }
      }
    }
  }

  function showProblems(form, err) {
    const general = form.querySelector('[data-error-for=""]');
    if (!err.problems.length) {
      const field = err.status === 409 && / named /.test(err.message) ? "name" : "";
      F.showError(form, field, err.message);
    }
    for (const problem of err.problems) {
      if (problem.field) {
        F.showError(form, problem.field, problem.message);
        continue;
      }
      for (const text of problem.message.split("; ")) {
        F.showError(form, placeOf(form, text), text);
        markWindows(form, text);
      }
    }
    if (!general.textContent) {
      general.textContent = "Not saved: please correct the problems marked below.";
    }
  }

  function setDirty(form, dirty) {
    form.querySelector("[data-dirty]").hidden = !dirty;
    if (dirty) form.querySelector("[data-saved]").textContent = "";
  }

  // --- the timeline (and who uses what) after a change ---------------------------

  async function reload() {
    const response = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    if (!response.ok) throw new Error("the page could not be reloaded (HTTP " + response.status + ")");
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const timeline = document.querySelector("[data-timeline]");
    const newTimeline = fresh.querySelector("[data-timeline]");
    if (timeline && newTimeline) timeline.replaceWith(document.adoptNode(newTimeline));
    bindTimeline();
    document.querySelectorAll("form[data-schedule]:not([data-new])").forEach(function (form) {
      const match = Array.from(fresh.querySelectorAll("form[data-schedule]")).find(
        (f) => f.dataset.schedule === form.dataset.schedule
      );
      if (!match) return;
      form.id = match.id;
      form.querySelector("[data-used-by]").textContent = match.querySelector("[data-used-by]").textContent;
    });
    return fresh;
  }

  async function refresh() {
    try {
      return await reload();
    } catch (err) {
      pageMessage.textContent = "The timeline could not be refreshed: " + err.message;
      return null;
    }
  }

  function bindTimeline() {
    document.querySelectorAll("[data-timeline] a[data-span]").forEach(function (link) {
      link.addEventListener("click", async function (ev) {
        ev.preventDefault();
        // Switch the span without a reload, so nothing typed below is lost.
        window.history.replaceState(null, "", link.href);
        await refresh();
      });
    });
  }

  // --- saving, creating, deleting -----------------------------------------------

  async function save(form) {
    F.clearErrors(form);
    const saved = form.querySelector("[data-saved]");
    saved.textContent = "";
    if (!check(form)) {
      form.querySelector('[data-error-for=""]').textContent = "Not sent: please correct the fields marked below.";
      return;
    }
    const body = collect(form);
    const isNew = form.hasAttribute("data-new");
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      if (isNew) {
        const created = await AB.api("POST", "/api/v1/schedules", body);
        await showCreated(form, created.name);
        return;
      }
      const result = await AB.api("PUT", "/api/v1/schedules/" + encodeURIComponent(form.dataset.schedule), body);
      form.dataset.schedule = result.name;
      form.querySelector("[data-title]").textContent = result.name;
      button.textContent = "Save " + result.name;
      setDirty(form, false);
      saved.textContent = "Saved and applied at " + new Date().toLocaleTimeString() + ".";
      await refresh();
    } catch (err) {
      showProblems(form, err);
    } finally {
      button.disabled = false;
    }
  }

  // The new schedule joins the list as the server shows it; the form is blank again.
  async function showCreated(form, name) {
    const fresh = await refresh();
    const match = fresh && Array.from(fresh.querySelectorAll("form[data-schedule]")).find(
      (f) => f.dataset.schedule === name
    );
    if (!match) {
      window.location.reload();
      return;
    }
    const added = document.adoptNode(match);
    document.querySelector("[data-schedule-list]").appendChild(added);
    bind(added);
    added.querySelector("[data-saved]").textContent = "Created and applied at " + new Date().toLocaleTimeString() + ".";
    document.querySelector("[data-no-schedules]").hidden = true;
    const blank = document.adoptNode(fresh.querySelector("form[data-new]"));
    form.replaceWith(blank);
    bind(blank);
    added.scrollIntoView({ block: "start" });
  }

  async function remove(form) {
    const name = form.dataset.schedule;
    if (!window.confirm('Delete the schedule "' + name + '"? This cannot be undone.')) return;
    F.clearErrors(form);
    try {
      await AB.api("DELETE", "/api/v1/schedules/" + encodeURIComponent(name));
    } catch (err) {
      F.showError(form, "", "Not deleted: " + err.message);
      return;
    }
    form.remove();
    pageMessage.textContent = 'Schedule "' + name + '" deleted.';
    document.querySelector("[data-no-schedules]").hidden = !!document.querySelector("form[data-schedule]:not([data-new])");
    await refresh();
  }

  // --- copy a day to others --------------------------------------------------------

  function copyDay(form, fieldset) {
    const from = fieldset.dataset.day;
    const source = windowsOf(fieldset.querySelector("[data-windows]")).map((w) => ({
      start: w.start,
      end: w.end === "24:00" ? "00:00" : w.end,
    }));
    const targets = Array.from(fieldset.querySelectorAll("[data-copy-to]:checked")).map((n) => n.dataset.copyTo);
    const note = fieldset.querySelector('[data-error-for="week.' + from + '"]');
    if (!targets.length) {
      note.textContent = "Tick the days to copy " + NAMES[from] + " to.";
      return;
    }
    for (const day of targets) {
      const list = form.querySelector('[data-windows="week.' + day + '"]');
      list.replaceChildren();
      for (const w of source) addWindow(form, list, w.start, w.end);
    }
    renumber(form);
    fieldset.querySelectorAll("[data-copy-to]").forEach((n) => (n.checked = false));
    fieldset.querySelector("details.copy").open = false;
    note.textContent = "";
    setDirty(form, true);
    form.querySelector("[data-saved]").textContent =
      "Copied " + NAMES[from] + " to " + targets.map((d) => NAMES[d]).join(", ") + ". Not saved yet.";
  }

  // --- wiring ------------------------------------------------------------------------

  function bind(form) {
    form.querySelectorAll("[data-window]").forEach(describe);
    renumber(form);
    form.addEventListener("input", function (ev) {
      if (ev.target.matches("[data-copy-to]")) return; // choosing days changes nothing yet
      setDirty(form, true);
      const row = ev.target.closest("[data-window]");
      if (row) {
        describe(row);
        checkWindow(form, row);
      } else if (ev.target.name) {
        F.checkField(form, ev.target);
      }
    });
    form.addEventListener("change", function (ev) {
      if (ev.target.dataset.part !== "off") return;
      const row = ev.target.closest("[data-exception]");
      const own = row.querySelector("[data-own-windows]");
      own.hidden = ev.target.checked;
      const list = row.querySelector("[data-windows]");
      if (!ev.target.checked && rowsOf(list).length === 0) addWindow(form, list);
    });
    form.addEventListener("click", function (ev) {
      const button = ev.target.closest("button");
      if (!button || button.type === "submit") return;
      const d = button.dataset;
      if ("addWindow" in d) {
        const list = button.closest("[data-day], [data-own-windows]").querySelector("[data-windows]");
        const row = addWindow(form, list);
        if (row) part(row, "start").focus();
      } else if ("removeWindow" in d) {
        const row = button.closest("[data-window]");
        const exception = row.closest("[data-exception]");
        const list = row.parentElement;
        row.remove();
        if (exception && rowsOf(list).length === 0) {
          part(exception, "off").checked = true;
          exception.querySelector("[data-own-windows]").hidden = true;
        }
        renumber(form);
      } else if ("addException" in d) {
        const row = exceptionTemplate.content.firstElementChild.cloneNode(true);
        form.querySelector("[data-exceptions]").appendChild(row);
        renumber(form);
        part(row, "date").focus();
      } else if ("removeException" in d) {
        button.closest("[data-exception]").remove();
        renumber(form);
      } else if ("pick" in d) {
        const wanted = PICKS[d.pick];
        button.closest("details").querySelectorAll("[data-copy-to]").forEach(function (box) {
          box.checked = wanted.includes(box.dataset.copyTo);
        });
        return;
      } else if ("copy" in d) {
        copyDay(form, button.closest("[data-day]"));
        return;
      } else if ("delete" in d) {
        remove(form);
        return;
      } else {
        return;
      }
      setDirty(form, true);
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      save(form);
    });
  }

  // A tapped bar says what it shows (a tooltip needs a mouse).
  document.addEventListener("click", function (ev) {
    const rect = ev.target.closest && ev.target.closest("[data-timeline] rect");
    const detail = document.querySelector("[data-timeline-detail]");
    if (rect && detail) detail.textContent = rect.querySelector("title").textContent;
  });

  document.querySelectorAll("form[data-schedule]").forEach(bind);
  bindTimeline();
})();
