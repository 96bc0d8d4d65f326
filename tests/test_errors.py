"""One JSON error shape for everything: our errors, aiohttp's own 404/405/413, and unexpected exceptions."""

from __future__ import annotations

from chatsvc.views import ApiView, endpoint
from tests.conftest import build_app, make_settings
from tests.helpers import assert_error, call, register_and_login


async def test_unknown_path_is_json_404(client):
    r = await call(client, "GET", "/api/v1/no/such/thing")
    assert_error(r, 404, "not_found")


async def test_wrong_method_is_json_405_with_allow(client):
    r = await call(client, "PUT", "/healthz")
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers.get("Allow", "")


async def test_oversized_json_body_is_413(aiohttp_client, tmp_path):
    app = await build_app(make_settings(tmp_path, max_json_bytes=1024))
    client = await aiohttp_client(app)
    big = {"username": "x" * 5000, "password": "y"}
    assert_error(await call(client, "POST", "/users/login", json=big), 413, "payload_too_large")
    # Without a Content-Length (chunked), aiohttp's own limit answers, in the same shape.
    async def chunks():
        yield b'{"username": "' + b"x" * 4000 + b'", "password": "p"}'

    async with client.post("/api/v1/users/login", data=chunks(), headers={"Content-Type": "application/json"}) as r:
        assert r.status == 413
        assert (await r.json())["error"]["code"] == "payload_too_large"


async def test_unexpected_exception_is_generic_500(aiohttp_client, tmp_path, caplog):
    class Boom(ApiView):
        path = "/boom"

        @endpoint("Explode", auth=False)
        async def get(self) -> None:
            raise RuntimeError("secret internal detail")

    app = await build_app(make_settings(tmp_path))
    app.router.add_view("/api/v1/boom", Boom)
    client = await aiohttp_client(app)
    r = await call(client, "GET", "/api/v1/boom")
    assert_error(r, 500, "internal")
    assert "secret internal detail" not in r.body["error"]["message"]
    assert "error id" in r.body["error"]["message"]
    assert "secret internal detail" in caplog.text  # logged with its traceback, not shown


async def test_validation_error_details_carry_loc_and_msg(client):
    r = await call(client, "POST", "/users/register", json={"email": "not-an-email", "username": "ab"})
    assert_error(r, 422, "validation_error")
    locs = {tuple(d["loc"]) for d in r.body["error"]["details"]}
    assert {("body", "email"), ("body", "username"), ("body", "password")} <= locs
    assert all(isinstance(d["msg"], str) and d["msg"] for d in r.body["error"]["details"])


async def test_non_object_json_bodies_are_422(client):
    for body in ([], "text", 42, None):
        r = await call(client, "POST", "/users/login", json=body)
        assert_error(r, 422, "validation_error")


async def test_security_headers_everywhere(client):
    user = await register_and_login(client)
    for r in (await call(client, "GET", "/healthz"), await user.get("/users/me"),
              await call(client, "GET", "/api/v1/nope")):
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


async def test_query_tokens_are_not_accepted(client):
    user = await register_and_login(client)
    r = await call(client, "GET", f"/users/me?access_token={user.token}")
    assert_error(r, 401, "unauthorized")


async def test_malformed_authorization_header_is_401(client):
    for header in ("Basic abc", "Bearer", "Bearer    ", "token xyz"):
        r = await call(client, "GET", "/users/me", headers={"Authorization": header})
        assert_error(r, 401, "unauthorized")


def test_every_domain_error_has_its_own_http_status_and_no_transport():
    import inspect

    import chatsvc.errors as domain
    from chatsvc.http_errors import HTTP_STATUS, http_headers, http_status

    kinds = [c for _n, c in inspect.getmembers(domain, inspect.isclass)
             if issubclass(c, domain.DomainError) and c is not domain.DomainError]
    assert kinds and all(kind in HTTP_STATUS for kind in kinds)  # none falls back to a guessed status
    assert "aiohttp" not in vars(domain) and not hasattr(domain.NotFound(), "status")  # services stay HTTP-free
    assert http_status(domain.RateLimited(7)) == 429 and http_headers(domain.RateLimited(7)) == {"Retry-After": "7"}
    assert http_headers(domain.Unauthorized()) == {"WWW-Authenticate": "Bearer"}

    from chatsvc.redisbus import EventsUnavailable  # a subclass answers like its parent
    assert http_status(EventsUnavailable()) == 503 and EventsUnavailable().retryable


async def test_client_input_at_the_edges_of_pythons_limits_is_a_client_error(client):
    """Values the JSON grammar allows but Python refuses, and integers past the database's, answer 4xx, never 500."""
    user = await register_and_login(client)
    digits = "7" * 5000  # past CPython's int conversion limit (4300 digits)
    r = await call(client, "POST", "/projects", data=f'{{"name": "x", "description": {digits}}}'.encode(),
                   headers={**user.headers, "Content-Type": "application/json"})
    assert_error(r, 400, "bad_request")
    deep = b"[" * 5000 + b"]" * 5000
    r = await call(client, "POST", "/projects", data=deep, headers={**user.headers, "Content-Type": "application/json"})
    assert_error(r, 400, "bad_request")
    for path in ("/users", "/projects", "/tasks"):
        assert_error(await user.get(f"{path}?offset={2**63}"), 422, "validation_error")
