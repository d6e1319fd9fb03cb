"""The web process: pages and the JSON API. It holds no GPIO: it reads the event
log and asks the io process to act over its local socket."""

from app.web.app import create_app

__all__ = ["create_app"]
