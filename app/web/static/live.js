// The live connection: one server-sent-event stream per page, reconnecting by
// itself, and leading to the login page when the server ends it ("ended"). Other scripts listen on document for "ab:event", "ab:status" and
// "ab:io-down", and call AB.api() for JSON requests.
"use strict";
(function () {
  const AB = (window.AB = window.AB || {});
  const indicator = document.getElementById("live");
  const banner = document.getElementById("io-banner");
  const body = document.body;
  let lastSeq = body.dataset.lastSeq ? Number(body.dataset.lastSeq) : null;
  let retryMs = 1000;
  let source = null;

  function setLive(state, text) {
    if (indicator) {
      indicator.dataset.state = state;
      indicator.textContent = text;
    }
  }

  function dispatch(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail }));
  }

  AB.clock = function (event) {
    return event.local.slice(0, 19).replace("T", " ");
  };

  function showDown(message) {
    if (!banner) return;
    const text = banner.querySelector("[data-io-error]");
    if (text) text.textContent = message || "";
    banner.hidden = false;
    setLive("bad", "relay controller down");
  }

  function connect() {
    const url = "/api/v1/events/stream" + (lastSeq !== null ? "?after=" + lastSeq : "");
    source = new EventSource(url);
    source.addEventListener("open", function () {
      retryMs = 1000;
      setLive("on", "live");
    });
    source.addEventListener("event", function (message) {
      const event = JSON.parse(message.data);
      lastSeq = event.seq;
      dispatch("ab:event", event);
    });
    source.addEventListener("status", function (message) {
      if (banner) banner.hidden = true;
      setLive("on", "live");
      const status = JSON.parse(message.data);
      document.querySelectorAll("[data-sim-only]").forEach((n) => (n.hidden = !status.simulated));
      dispatch("ab:status", status);
    });
    source.addEventListener("io-down", function (message) {
      const detail = JSON.parse(message.data);
      showDown(detail.error);
      dispatch("ab:io-down", detail);
    });
    source.addEventListener("ended", function () {
      // The session or token behind the stream has ended (logout, expiry, a removed
      // user, a changed role): log in again, and come back here.
      source.close();
      const here = window.location.pathname + window.location.search;
      window.location.assign("/login?next=" + encodeURIComponent(here));
    });
    source.addEventListener("error", function () {
      setLive("off", "reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gives up on an HTTP error; we do not.
        source.close();
        window.setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 15000);
      }
    });
  }

  AB.disconnect = function () {
    if (source) source.close();
  };

  connect();
})();
