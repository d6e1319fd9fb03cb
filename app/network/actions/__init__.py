"""Network actions: tell a recorder or VMS about an alarm over IP (issue #20).

A network action is linked to an input like a relay is: it has an "on alarm" and
an "on clear" request. :mod:`.model` describes the configuration (one model per
vendor), :mod:`.wire` turns one phase of one action into the exact request the
vendor documents, and :mod:`.send` sends it with authentication, a timeout and
retries, returning an :class:`~.send.ActionResult` for the event log.

:mod:`.linkage` is the recorders document (actions, cameras, and which input's
alarm sets which going) and :mod:`.runner` runs it in the network process, writing
each result back into the log through io's ``annotate`` (docs/recorders.md).
"""
