"""Accounts: passwords, sessions, API tokens, roles, login throttling and the
one-time setup code. Stored in ``auth.db`` beside the event log, written only by
the web process (ADR 0006)."""
