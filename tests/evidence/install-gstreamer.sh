#!/usr/bin/env bash
# Make sure GStreamer's RTSP server is there for the RTSP snapshot tests (tests/evidence/).
#
# The tests serve a live H.264 stream with Debian's gst-rtsp-server (run by the system
# Python through its GObject bindings), and the appliance grabs snapshots from it.
# `make test` runs this before pytest. It does nothing when the packages are there; as
# root with apt-get (CI) it installs them; otherwise it only says how, and those tests
# are skipped. With ALARMBRIDGE_REQUIRE_RTSP=1 (set by .ci/run) they fail instead.
set -euo pipefail

packages=(gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 gstreamer1.0-plugins-base
    gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly)

have() {
    /usr/bin/python3 - <<'PY' 2>/dev/null
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
assert Gst.ElementFactory.find("x264enc") and Gst.ElementFactory.find("rtph264pay")
PY
}

if have; then
    exit 0
fi
if [[ "${ALARMBRIDGE_REQUIRE_RTSP:-}" == 1 ]]; then
    outcome="the RTSP snapshot tests will fail (ALARMBRIDGE_REQUIRE_RTSP=1)"
else
    outcome="the RTSP snapshot tests will be skipped"
fi
if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "install-gstreamer: GStreamer's RTSP server not found: install it with" \
        "'sudo apt-get install ${packages[*]}'; $outcome." >&2
    exit 0
fi

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
}

echo "install-gstreamer: installing Debian's GStreamer RTSP server for the snapshot tests..."
if ! apt_install >/dev/null 2>&1; then
    if ! { apt-get update -qq && apt_install >/dev/null; }; then
        echo "install-gstreamer: 'apt-get install' failed; $outcome." >&2
        [[ "${ALARMBRIDGE_REQUIRE_RTSP:-}" == 1 ]] && exit 1
        exit 0
    fi
fi
