// JSON requests to the appliance's API: AB.api(method, path, payload) resolves to
// the answer's JSON or throws an Error with .status and .problems. Writes carry
// the session's CSRF token (from the page's meta tag).
"use strict";
(function () {
  const AB = (window.AB = window.AB || {});
  const meta = document.querySelector('meta[name="csrf-token"]');

  AB.api = async function (method, path, payload) {
    const options = { method, headers: { Accept: "application/json" } };
    if (meta && meta.content && method !== "GET") options.headers["X-CSRF-Token"] = meta.content;
    if (payload !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (err) {
      const error = new Error("the appliance cannot be reached (" + err.message + ")");
      error.problems = [];
      throw error;
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (response.status === 401 && !path.startsWith("/api/v1/login") && !path.startsWith("/api/v1/setup")) {
      // the session ended (timed out, or logged out elsewhere): log in again
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
    }
    if (!response.ok) {
      const error = new Error((data && data.error) || "the request failed (HTTP " + response.status + ")");
      error.status = response.status;
      error.problems = (data && data.problems) || [];
      throw error;
    }
    return data;
  };

  document.addEventListener("click", async function (ev) {
    const button = ev.target.closest && ev.target.closest("[data-logout]");
    if (!button) return;
    try {
      await AB.api("POST", "/api/v1/logout");
    } finally {
      window.location.assign("/login");
    }
  });
})();
