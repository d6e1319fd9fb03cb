// Setup, login, password change, and the admin's users and API tokens.
"use strict";
(function () {
  const AB = window.AB;

  function values(form) {
    return Object.fromEntries(new FormData(form).entries());
  }

  function showError(form, err) {
    const box = form.querySelector("[data-form-error]");
    if (!box) return;
    box.textContent = err ? err.message : "";
    box.hidden = !err;
  }

  function handle(selector, submit) {
    document.querySelectorAll(selector).forEach(function (form) {
      form.addEventListener("submit", async function (ev) {
        ev.preventDefault();
        showError(form, null);
        const button = form.querySelector('button[type="submit"]');
        if (button) button.disabled = true;
        try {
          await submit(form, values(form));
        } catch (err) {
          showError(form, err);
        } finally {
          if (button) button.disabled = false;
        }
      });
    });
  }

  function samePasswords(first, again) {
    if (first !== again) throw new Error("the two passwords differ");
  }

  handle("[data-login]", async function (form, v) {
    await AB.api("POST", "/api/v1/login", { name: v.name, password: v.password });
    window.location.assign(form.dataset.next || "/");
  });

  handle("[data-setup]", async function (form, v) {
    samePasswords(v.password, v.again);
    await AB.api("POST", "/api/v1/setup", { code: v.code, name: v.name, password: v.password });
    window.location.assign("/");
  });

  handle("[data-password]", async function (form, v) {
    samePasswords(v.new, v.again);
    await AB.api("POST", "/api/v1/session/password", { current: v.current, new: v.new });
    // the session was renewed: reload for the page's new CSRF token
    window.location.reload();
  });

  handle("[data-set-password]", async function (form, v) {
    samePasswords(v.password, v.again);
    await AB.api("POST", "/api/v1/users/" + encodeURIComponent(v.name) + "/password", { password: v.password });
    form.reset();
    const ok = form.querySelector("[data-form-ok]");
    ok.textContent = "New password set for " + v.name + "; their sessions have ended.";
    ok.hidden = false;
    loadUsers();
  });

  function fillUserChoice(users) {
    const choice = document.querySelector("[data-user-choice]");
    if (!choice) return;
    const kept = choice.value;
    choice.replaceChildren();
    for (const u of users) {
      const option = document.createElement("option");
      option.value = u.name;
      option.textContent = u.name + " (" + u.role + ")";
      option.selected = u.name === kept;
      choice.appendChild(option);
    }
  }

  function pickForPassword(name) {
    const form = document.querySelector("[data-set-password]");
    if (!form) return;
    form.elements.namedItem("name").value = name;
    form.querySelector("[data-form-ok]").hidden = true;
    form.scrollIntoView({ block: "center" });
    form.elements.namedItem("password").focus();
  }

  const copy = document.querySelector("[data-copy-token]");
  if (copy) {
    copy.addEventListener("click", async function () {
      const value = document.querySelector("[data-token-value]");
      const said = document.querySelector("[data-copied]");
      try {
        await navigator.clipboard.writeText(value.textContent);
        said.textContent = "Copied.";
      } catch (err) {
        // no clipboard (plain HTTP on another host): select it for Ctrl+C instead
        const range = document.createRange();
        range.selectNodeContents(value);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        said.textContent = "Selected: press Ctrl+C (the browser allows copying only over HTTPS).";
      }
    });
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function actionCell(label, onClick) {
    const td = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.addEventListener("click", onClick);
    td.appendChild(button);
    return td;
  }

  async function loadUsers() {
    const table = document.querySelector("[data-users]");
    if (!table) return;
    const users = await AB.api("GET", "/api/v1/users");
    const body = table.tBodies[0];
    body.replaceChildren();
    fillUserChoice(users);
    for (const u of users) {
      const tr = document.createElement("tr");
      tr.dataset.user = u.name;
      tr.appendChild(cell(u.name));
      const roleTd = document.createElement("td");
      const select = document.createElement("select");
      select.setAttribute("aria-label", "Role of " + u.name);
      for (const r of ["viewer", "operator", "admin"]) {
        const option = document.createElement("option");
        option.value = r;
        option.textContent = r;
        option.selected = r === u.role;
        select.appendChild(option);
      }
      select.addEventListener("change", async function () {
        try {
          await AB.api("PUT", "/api/v1/users/" + encodeURIComponent(u.name), { role: select.value });
        } catch (err) {
          window.alert(err.message);
        }
        loadUsers();
      });
      roleTd.appendChild(select);
      tr.appendChild(roleTd);
      tr.appendChild(cell(u.password_changed.slice(0, 16).replace("T", " ")));
      tr.appendChild(cell(String(u.sessions)));
      const buttons = actionCell("Set password", () => pickForPassword(u.name));
      tr.appendChild(buttons);
      tr.appendChild(
        actionCell("Remove", async function () {
          if (!window.confirm("Remove the user " + u.name + "?")) return;
          try {
            await AB.api("DELETE", "/api/v1/users/" + encodeURIComponent(u.name));
          } catch (err) {
            window.alert(err.message);
          }
          loadUsers();
        }),
      );
      body.appendChild(tr);
    }
  }

  async function loadTokens() {
    const table = document.querySelector("[data-tokens]");
    if (!table) return;
    const tokens = await AB.api("GET", "/api/v1/tokens");
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const t of tokens) {
      const tr = document.createElement("tr");
      tr.dataset.token = String(t.id);
      tr.appendChild(cell(t.name + (t.revoked ? " (revoked)" : "")));
      tr.appendChild(cell(t.role));
      tr.appendChild(cell(t.prefix + "…"));
      tr.appendChild(cell(t.created_by));
      tr.appendChild(cell(t.last_used ? t.last_used.slice(0, 16).replace("T", " ") : "never"));
      if (t.revoked) {
        tr.appendChild(cell(""));
      } else {
        tr.appendChild(
          actionCell("Revoke", async function () {
            if (!window.confirm("Revoke the token " + t.name + "?")) return;
            await AB.api("DELETE", "/api/v1/tokens/" + t.id);
            loadTokens();
          }),
        );
      }
      body.appendChild(tr);
    }
  }

  handle("[data-add-user]", async function (form, v) {
    await AB.api("POST", "/api/v1/users", { name: v.name, role: v.role, password: v.password });
    form.reset();
    loadUsers();
  });

  handle("[data-add-token]", async function (form, v) {
    const made = await AB.api("POST", "/api/v1/tokens", { name: v.name, role: v.role });
    form.reset();
    const shown = document.querySelector("[data-new-token]");
    shown.querySelector("[data-token-value]").textContent = made.token;
    shown.hidden = false;
    loadTokens();
  });

  loadUsers();
  loadTokens();
})();
