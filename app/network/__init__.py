"""The network side: the third process (destinations, and later recorders and inputs).

See ``docs/adr`` and ``../shared``'s architecture note: the io process never waits
for the network; this process reads the committed event log (live from the io
socket's stream, catch-up from the database by seq) and keeps one durable cursor
per destination in its own SQLite file.
"""
