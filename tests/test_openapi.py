"""The OpenAPI document is generated from the route table, valid 3.1, and covers every route."""

from __future__ import annotations

import asyncio

from openapi_spec_validator import validate

from chatsvc.openapi import iter_endpoints
from tests.helpers import call


async def test_openapi_is_valid_and_complete(client):
    r = await call(client, "GET", "/api/v1/openapi.json")
    assert r.status == 200
    spec = r.body
    assert spec["openapi"].startswith("3.1")
    await asyncio.to_thread(validate, spec)  # heavy: keep it off the loop the guard watches
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    registered = {(m, p) for m, p, _v, _e in iter_endpoints(client.app)}
    assert registered == documented
    login = spec["paths"]["/api/v1/users/login"]["post"]
    assert "application/x-www-form-urlencoded" in login["requestBody"]["content"]
    assert login["security"] == []
    assert spec["paths"]["/api/v1/users/me"]["get"]["security"]
    assert "401" in spec["paths"]["/api/v1/users/me"]["get"]["responses"]


async def test_every_route_is_declared_with_endpoint(client):
    """A handler added without @endpoint would escape validation, auth and the docs: forbid it."""
    for route in client.app.router.routes():
        view = route.handler
        if not isinstance(view, type):
            continue  # static files and the index page
        for method in ("get", "post", "put", "patch", "delete"):
            fn = getattr(view, method, None)
            if fn is not None:
                assert hasattr(fn, "__endpoint__"), f"{view.__name__}.{method} lacks @endpoint"


async def test_docs_page_is_local_and_csp_strict(client):
    async with client.get("/api/docs") as r:
        assert r.status == 200
        html = await r.text()
        csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script type=\"module\" src=\"/static/apidocs.js\">" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from elsewhere
    async with client.get("/static/apidocs.js") as r:
        assert r.status == 200
        assert "innerHTML" not in await r.text()
