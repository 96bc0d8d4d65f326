"""Matrix case for the websocket route: a plain GET (no upgrade) after authentication is a 400."""

from tests.authz_cases import Case, same

CASES = [
    Case("GET", "/api/v1/ws", "/api/v1/ws", expect=same(400),
         note="the upgrade itself is covered by tests/test_ws.py"),
]
