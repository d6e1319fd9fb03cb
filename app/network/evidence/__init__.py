"""Evidence for an alarm: snapshots from the cameras, stored beside the log (issue #20).

:mod:`.jpeg` checks that a snapshot is a whole JPEG and reads its size;
:mod:`.sources` grabs one from an HTTP snapshot URL (Basic/Digest) or an RTSP
stream; :mod:`.store` keeps the images named by their SHA-256, with a size quota
and a retention time.

The network process grabs them on alarms (app/network/actions/runner.py); the
web process serves them by hash (app/web/evidence.py).
"""
