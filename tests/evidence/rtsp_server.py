"""A live RTSP test stream, served by GStreamer's RTSP server (Debian's gst-rtsp-server).

Run with the system Python, which has Debian's GObject bindings (python3-gst-1.0):
``/usr/bin/python3 tests/evidence/rtsp_server.py PORT WIDTHxHEIGHT``. It serves
``rtsp://127.0.0.1:PORT/live``, an H.264 stream like a camera's (a test pattern at 10
frames per second, a key frame every second), prints ``ready`` when it listens, and
runs until killed. Installed by tests/evidence/install-gstreamer.sh.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true pattern=ball "
    "! video/x-raw,width={w},height={h},framerate=10/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


def main() -> None:
    port = sys.argv[1]
    width, height = sys.argv[2].split("x")
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE.format(w=width, h=height))
    factory.set_shared(True)
    server.get_mount_points().add_factory("/live", factory)
    if server.attach(None) == 0:
        print(f"could not listen on port {port}", flush=True)
        sys.exit(1)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
