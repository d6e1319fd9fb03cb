#!/usr/bin/env bash
# Make sure Chromium is there for the browser tests (tests/browser/).
#
# The tests drive Debian's Chromium (/usr/bin/chromium, or $ALARMBRIDGE_CHROMIUM), not
# Playwright's own download: `playwright install` cannot reach its CDN from our machines.
# `make test` runs this before pytest. It does nothing when the browser is there; as root
# with apt-get (CI) it installs Debian's chromium package; otherwise (a laptop) it only
# says how to install it, and the browser tests are skipped. With
# ALARMBRIDGE_REQUIRE_BROWSER=1 (set by .ci/run) a missing browser fails them instead.
set -euo pipefail

chromium="${ALARMBRIDGE_CHROMIUM:-/usr/bin/chromium}"
if [[ -x "$chromium" ]]; then
    exit 0
fi

if [[ "${ALARMBRIDGE_REQUIRE_BROWSER:-}" == 1 ]]; then
    outcome="the browser tests will fail (ALARMBRIDGE_REQUIRE_BROWSER=1)"
else
    outcome="the browser tests will be skipped"
fi

if [[ -n "${ALARMBRIDGE_CHROMIUM:-}" ]]; then
    # Installing Debian's package would not put a browser at a custom path.
    echo "install-chromium: ALARMBRIDGE_CHROMIUM=$chromium does not exist; $outcome." >&2
    exit 0
fi
if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "install-chromium: Chromium not found: install it with 'sudo apt-get install chromium'; $outcome." >&2
    exit 0
fi

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
}

echo "install-chromium: installing Debian's chromium package for the browser tests..."
# A fresh machine may have no package lists yet: only then pay for `apt-get update`.
if ! apt_install 2>/dev/null; then
    if ! { apt-get update -qq && apt_install; }; then
        echo "install-chromium: 'apt-get install chromium' failed; $outcome." >&2
        # On CI that is an error of its own; elsewhere let the rest of `make test` run.
        [[ "${ALARMBRIDGE_REQUIRE_BROWSER:-}" == 1 ]] && exit 1
        exit 0
    fi
fi
