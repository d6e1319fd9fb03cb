"""The event log's errors, apart from the modules that raise them: the command line
catches them without importing SQLAlchemy (it would delay the io process's relays)."""

from __future__ import annotations


class EventLogError(Exception):
    """Base class of the event log's errors."""


class MigrationError(EventLogError):
    """The database could not be brought to the schema this version needs."""


class InvalidCursorError(EventLogError, ValueError):
    """A paging cursor that this module did not make (or that was mangled)."""
