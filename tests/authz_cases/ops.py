"""Matrix cases for handlers/ops.py: all public."""

from tests.authz_cases import CALLERS, Case

PUBLIC = {c: 200 for c in CALLERS}

CASES = [
    Case("GET", "/healthz", "/healthz", expect=PUBLIC),
    Case("GET", "/readyz", "/readyz", expect=PUBLIC),
    Case("GET", "/metrics", "/metrics", expect=PUBLIC),
    Case("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", expect=PUBLIC),
    Case("GET", "/api/docs", "/api/docs", expect=PUBLIC),
]
