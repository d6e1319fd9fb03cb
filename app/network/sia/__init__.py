"""SIA DC-09: frames (frame.py), their events (content.py), the receiver that turns
panel zones into virtual inputs (receiver.py), the sender that reports our events
to an alarm receiving centre (sender.py), and their settings (settings.py)."""
