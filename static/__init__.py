"""The browser client, shipped as package data (served by handlers.ops)."""
