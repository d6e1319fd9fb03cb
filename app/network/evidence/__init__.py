"""Evidence for an alarm: snapshots from the cameras, stored beside the log (issue #20).

:mod:`.jpeg` checks that a snapshot is a whole JPEG and reads its size;
:mod:`.sources` grabs one from an HTTP snapshot URL (Basic/Digest) or an RTSP
stream; :mod:`.store` keeps the images named by their SHA-256, with a size quota
and a retention time.

Status: built and tested against real peers (an HTTP server with Digest auth, a
GStreamer RTSP server); the delivery process does not start grabs yet.
"""
