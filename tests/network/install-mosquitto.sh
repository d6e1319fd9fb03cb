#!/usr/bin/env bash
# Make sure Mosquitto (the broker) and mosquitto-clients (mosquitto_sub, the independent
# subscriber) are there for the network tests (tests/network/).
#
# `make test` runs this before pytest. It does nothing when both are there; as root with
# apt-get (CI) it installs Debian's packages; otherwise (a laptop) it only says how, and the
# MQTT tests are skipped. With ALARMBRIDGE_REQUIRE_MQTT=1 (set by .ci/run) a missing broker
# fails them instead. The tests start their own broker (own config, a free loopback port):
# the package's system service is not needed, so it is stopped and disabled where it runs.
set -euo pipefail

if command -v mosquitto >/dev/null || [[ -x /usr/sbin/mosquitto ]]; then
    if command -v mosquitto_sub >/dev/null; then
        exit 0
    fi
fi

if [[ "${ALARMBRIDGE_REQUIRE_MQTT:-}" == 1 ]]; then
    outcome="the MQTT tests will fail (ALARMBRIDGE_REQUIRE_MQTT=1)"
else
    outcome="the MQTT tests will be skipped"
fi

if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "install-mosquitto: Mosquitto not found: install it with 'sudo apt-get install mosquitto mosquitto-clients'; $outcome." >&2
    exit 0
fi

apt_install() {
    # policy-rc.d-less containers may try to start the service: that is harmless.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        mosquitto mosquitto-clients
}

echo "install-mosquitto: installing Debian's mosquitto and mosquitto-clients for the network tests..."
# A fresh machine may have no package lists yet: only then pay for `apt-get update`.
if ! apt_install 2>/dev/null; then
    if ! { apt-get update -qq && apt_install; }; then
        echo "install-mosquitto: 'apt-get install mosquitto mosquitto-clients' failed; $outcome." >&2
        [[ "${ALARMBRIDGE_REQUIRE_MQTT:-}" == 1 ]] && exit 1
        exit 0
    fi
fi
# The tests run their own brokers; a system one on port 1883 is of no use to them.
if command -v systemctl >/dev/null && systemctl is-active --quiet mosquitto 2>/dev/null; then
    systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
