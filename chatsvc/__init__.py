"""chatsvc: a websocket-first, event-driven server for AI-assisted QA work."""

__version__ = "0.1.0"
