"""Registration, bearer login, cookie sessions with CSRF, logout, profile, password change, rate limits."""

from __future__ import annotations

import asyncio
import re

from tests.helpers import PASSWORD, assert_error, call, login, register, register_and_login


async def test_register_login_me(client):
    reg = await register(client, "alice", full_name="Alice A")
    assert reg.status == 201
    assert reg.body["username"] == "alice" and reg.body["email"] == "alice@example.com"
    assert "password" not in str(reg.body) and "password_hash" not in reg.body
    assert reg.body["created_at"].endswith("Z") and reg.body["version"] == 1
    tok = await login(client, "alice")
    assert tok.status == 200 and tok.body["token_type"] == "bearer" and tok.body["expires_in"] > 0
    me = await call(client, "GET", "/users/me", headers={"Authorization": f"Bearer {tok.body['access_token']}"})
    assert me.status == 200 and me.body["username"] == "alice"
    assert "projects.create" in me.body["permissions"] and me.body["csrf_token"] is None


async def test_login_with_email_and_form(client):
    await register(client, "bob")
    form = await client.post("/api/v1/users/login", data={"username": "BOB@example.com", "password": PASSWORD,
                                                          "grant_type": "password"})
    assert form.status == 200
    assert (await form.json())["user"]["username"] == "bob"


async def test_duplicate_register_is_409(client):
    assert (await register(client, "carol")).status == 201
    again = await register(client, "Carol")
    assert_error(again, 409, "conflict")


async def test_password_bounds(client):
    assert_error(await register(client, "shorty", password="1234567"), 422, "validation_error")
    too_long = await register(client, "longy", password="é" * 37)  # 74 bytes
    assert_error(too_long, 422, "validation_error")
    assert too_long.body["error"]["details"][0]["loc"] == ["body", "password"]
    ok = await register(client, "exact", password="a" * 72)
    assert ok.status == 201
    assert (await login(client, "exact", "a" * 72)).status == 200
    assert_error(await login(client, "exact", "a" * 72 + "x"), 401, "unauthorized")


async def test_unknown_user_and_wrong_password_look_the_same(client):
    await register(client, "dave")
    wrong = await login(client, "dave", "not the password")
    unknown = await login(client, "nobody-here", "not the password")
    assert wrong.status == unknown.status == 401
    assert wrong.body == unknown.body
    assert wrong.headers["WWW-Authenticate"] == "Bearer"


async def test_stored_hash_uses_bcrypt(client, settings):
    import sqlite3

    await register(client, "erin")
    db = sqlite3.connect(settings.data_dir / "chatsvc.db")
    (digest,) = db.execute("select password_hash from users where username='erin'").fetchone()
    db.close()
    assert re.match(r"^\$2b\$04\$", digest)  # tests use cost 4; the default Settings uses 12
    from chatsvc.settings import Settings

    assert Settings().bcrypt_rounds == 12


async def test_logout_revokes_token(client):
    user = await register_and_login(client)
    assert (await user.post("/users/logout")).status == 204
    assert_error(await user.get("/users/me"), 401, "unauthorized")


async def test_login_rate_limit_per_account_and_ip(client):
    await register(client, "frank")
    await register(client, "grace")
    for _ in range(10):
        assert (await login(client, "frank", "wrong password!")).status == 401
    limited = await login(client, "frank", PASSWORD)
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0
    assert (await login(client, "grace", PASSWORD)).status == 200  # another account is not affected


async def test_registrations_per_client_ip_are_limited(aiohttp_client, tmp_path):
    """`registrations_per_ip` new accounts from one IP per window; the next answers 429 with Retry-After,
    before any password is hashed. A refused (taken) name does not count."""
    from tests.conftest import build_app, make_settings

    client = await aiohttp_client(await build_app(make_settings(tmp_path, registrations_per_ip=3)))
    for name in ("reg1", "reg2"):
        assert (await register(client, name)).status == 201
    assert (await register(client, "reg1")).status == 409
    assert (await register(client, "reg3")).status == 201
    refused = await register(client, "reg4")
    assert_error(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) > 3000  # the window is an hour
    assert (await login(client, "reg3")).status == 200  # logging in is not affected


async def test_cookie_session_needs_csrf(client):
    await register(client, "heidi")
    r = await client.post("/api/v1/users/session", json={"username": "heidi", "password": PASSWORD})
    assert r.status == 200
    body = await r.json()
    csrf = body["csrf_token"]
    set_cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    me = await client.get("/api/v1/users/me")
    me_body = await me.json()
    me_version = me_body["version"]
    assert me.status == 200 and me_body["csrf_token"] == csrf
    no_token = await call(client, "PATCH", "/users/me", json={"full_name": "H"})
    assert_error(no_token, 403, "forbidden")
    bad_token = await call(client, "PATCH", "/users/me", json={"full_name": "H"}, headers={"X-CSRF-Token": "x"})
    assert_error(bad_token, 403, "forbidden")
    ok = await call(client, "PATCH", "/users/me", json={"full_name": "H"}, headers={"X-CSRF-Token": csrf})
    assert ok.status == 200 and ok.body["full_name"] == "H" and ok.body["version"] == me_version + 1
    out = await call(client, "DELETE", "/users/session", headers={"X-CSRF-Token": csrf})
    assert out.status == 204
    assert_error(await call(client, "GET", "/users/me"), 401)


async def test_cookie_replay_after_logout_is_refused(client):
    await register(client, "ivan")
    r = await client.post("/api/v1/users/session", json={"username": "ivan", "password": PASSWORD})
    csrf = (await r.json())["csrf_token"]
    cookie = r.cookies["chatsvc_session"].value
    assert (await call(client, "DELETE", "/users/session", headers={"X-CSRF-Token": csrf})).status == 204
    client.session.cookie_jar.clear()
    replay = await call(client, "GET", "/users/me", headers={"Cookie": f"chatsvc_session={cookie}"})
    assert_error(replay, 401)


async def test_password_change_logs_out_other_sessions(client):
    user = await register_and_login(client, "judy")
    other = await login(client, "judy")
    other_headers = {"Authorization": f"Bearer {other.body['access_token']}"}
    wrong = await user.post("/users/me/password", {"current_password": "nope nope", "new_password": "new password 1"})
    assert_error(wrong, 403, "forbidden")
    r = await user.post("/users/me/password", {"current_password": PASSWORD, "new_password": "new password 1",
                                               "logout_other_sessions": True})
    assert r.status == 200
    assert (await user.get("/users/me")).status == 200  # the session that changed it stays
    assert_error(await call(client, "GET", "/users/me", headers=other_headers), 401)
    assert (await login(client, "judy", "new password 1")).status == 200
    assert (await login(client, "judy", PASSWORD)).status == 401


async def test_directory_shows_only_public_fields(client):
    user = await register_and_login(client, "kate")
    await register(client, "karl")
    r = await user.get("/users?q=ka")
    assert r.status == 200 and r.body["total"] == 2
    assert set(r.body["items"][0]) == {"id", "username", "full_name"}
    assert_error(await call(client, "GET", "/users"), 401)


async def test_bad_login_bodies(client):
    assert_error(await call(client, "POST", "/users/login", data="not json",
                            headers={"Content-Type": "application/json"}), 400, "bad_request")
    assert_error(await call(client, "POST", "/users/login", data="x", headers={"Content-Type": "text/plain"}),
                 415, "unsupported_media_type")
    assert_error(await call(client, "POST", "/users/login", json={"username": 5}), 422, "validation_error")
    assert_error(await call(client, "POST", "/users/register", json={"email": "x", "username": "u",
                                                                      "password": "p", "admin": True}), 422)


async def test_first_user_admin_is_opt_in(aiohttp_client, tmp_path):
    from tests.conftest import build_app, make_settings

    client = await aiohttp_client(await build_app(make_settings(tmp_path, first_user_admin=True)))
    first = await register(client, "firsty")
    second = await register(client, "secondy")
    assert first.body["is_superuser"] is True and second.body["is_superuser"] is False


async def test_no_default_accounts(client):
    for name, password in (("admin", "admin"), ("admin", "password"), ("root", "root")):
        assert (await login(client, name, password)).status == 401


async def test_idle_and_absolute_expiry(aiohttp_client, tmp_path):
    import asyncio

    from tests.conftest import build_app, make_settings

    idle = await aiohttp_client(await build_app(make_settings(tmp_path / "a", session_idle_s=1)))
    user = await register_and_login(idle, "sleepy")
    assert (await user.get("/users/me")).status == 200
    await asyncio.sleep(1.2)
    assert_error(await user.get("/users/me"), 401)

    absolute = await aiohttp_client(await build_app(make_settings(tmp_path / "b", token_ttl_s=1)))
    user = await register_and_login(absolute, "shortlived")
    await asyncio.sleep(1.2)
    assert_error(await user.get("/users/me"), 401)


async def test_session_cookie_is_new_at_each_login(client):
    await register(client, "lena")
    first = await client.post("/api/v1/users/session", json={"username": "lena", "password": PASSWORD})
    cookie1 = first.cookies["chatsvc_session"].value
    second = await client.post("/api/v1/users/session", json={"username": "lena", "password": PASSWORD})
    cookie2 = second.cookies["chatsvc_session"].value
    assert cookie1 != cookie2


async def test_tampered_cookie_is_anonymous_not_500(client):
    await register(client, "mike")
    r = await client.post("/api/v1/users/session", json={"username": "mike", "password": PASSWORD})
    value = r.cookies["chatsvc_session"].value
    client.session.cookie_jar.clear()
    flipped = value[:-5] + ("A" if value[-5] != "A" else "B") + value[-4:]
    assert_error(await call(client, "GET", "/users/me", headers={"Cookie": f"chatsvc_session={flipped}"}), 401)


async def test_session_probe_answers_who_is_signed_in_without_401(client):
    """The browser's boot probe: nulls (200, not 401) without a session; the user and CSRF token with one."""
    anonymous = await call(client, "GET", "/users/session")
    assert anonymous.status == 200 and anonymous.body == {"user": None, "csrf_token": None}
    await register(client, "probe")
    r = await client.post("/api/v1/users/session", json={"username": "probe", "password": PASSWORD})
    csrf = (await r.json())["csrf_token"]
    signed_in = await call(client, "GET", "/users/session")
    assert signed_in.status == 200
    assert signed_in.body["user"]["username"] == "probe" and signed_in.body["csrf_token"] == csrf
    assert (await call(client, "DELETE", "/users/session", headers={"X-CSRF-Token": csrf})).status == 204
    after = await call(client, "GET", "/users/session")
    assert after.status == 200 and after.body == {"user": None, "csrf_token": None}


async def test_passwords_are_taken_exactly_as_typed(client):
    spaced = "   Spaced-pass1   "
    r = await call(client, "POST", "/users/register",
                   json={"email": "sp@example.com", "username": "spacey", "password": spaced})
    assert r.status == 201, r.body
    assert (await login(client, "spacey", spaced)).status == 200
    assert_error(await login(client, "spacey", spaced.strip()), 401, "unauthorized")  # not the same password
    user = await register_and_login(client, "changer")
    changed = await user.post("/users/me/password", {"current_password": f" {user.password}",
                                                     "new_password": "another long password"})
    assert_error(changed, 403)  # a space more is a wrong current password


async def test_the_most_common_passwords_are_refused(client):
    for common in ("password123", "Password1", "12345678", "qwertyuiop", "iloveyou"):
        r = await call(client, "POST", "/users/register",
                       json={"email": "c@example.com", "username": "common", "password": common})
        assert_error(r, 422, "validation_error")
        assert "common" in r.body["error"]["details"][0]["msg"]
    user = await register_and_login(client)
    r = await user.post("/users/me/password", {"current_password": user.password, "new_password": "sunshine1"})
    assert_error(r, 422, "validation_error")


async def test_a_flood_of_registrations_fails_fast_and_taken_names_cost_no_bcrypt(aiohttp_client, tmp_path):
    from tests.conftest import build_app, make_settings

    # Real bcrypt cost, one hashing thread: the queue in front of it holds 4.
    client = await aiohttp_client(await build_app(make_settings(tmp_path, bcrypt_rounds=10, cpu_threads=1)))
    assert (await register(client, "taken")).status == 201
    bodies = [{"email": f"f{i}@example.com", "username": f"flood{i}", "password": "a long password"}
              for i in range(16)]
    answers = await asyncio.gather(*(call(client, "POST", "/users/register", json=b) for b in bodies),
                                   call(client, "POST", "/users/register",
                                        json={"email": "t2@example.com", "username": "taken",
                                              "password": "a long password"}))
    statuses = [a.status for a in answers[:-1]]
    assert set(statuses) <= {201, 503} and statuses.count(201) >= 4 and 503 in statuses
    busy = next(a for a in answers if a.status == 503)
    assert_error(busy, 503, "busy")
    assert busy.headers["Retry-After"] == "1"
    assert_error(answers[-1], 409, "conflict")  # answered without waiting for a hash slot


async def test_username_and_email_spellings_share_one_account_bucket(client):
    await register(client, "ivan")
    for i in range(10):
        spelling = "ivan" if i % 2 else "IVAN@example.com"
        assert (await login(client, spelling, "wrong password!")).status == 401
    assert_error(await login(client, "ivan@example.com", PASSWORD), 429, "rate_limited")


async def test_a_throttled_network_does_not_lock_out_a_correct_password(aiohttp_client, tmp_path):
    """Past the per-IP limit (an office behind one NAT, someone spraying), attempts from that IP are slowed and
    a wrong one answers 429 — but the right password of an account not under attack still gets in."""
    from tests.conftest import build_app, make_settings

    client = await aiohttp_client(await build_app(make_settings(tmp_path, login_fail_limit_ip=5)))
    await register(client, "judy")
    for i in range(5):
        await register(client, f"victim{i}")
        assert (await login(client, f"victim{i}", "wrong password!")).status == 401
    started = asyncio.get_running_loop().time()
    assert (await login(client, "judy", PASSWORD)).status == 200
    assert asyncio.get_running_loop().time() - started >= 0.9  # it waited its turn
    sprayed = await login(client, "victim0", "another wrong one")
    assert_error(sprayed, 429, "rate_limited")
    assert int(sprayed.headers["Retry-After"]) > 0


async def test_wrong_current_passwords_are_rate_limited(client):
    user = await register_and_login(client)
    for _ in range(10):
        wrong = await user.post("/users/me/password", {"current_password": "not my password",
                                                       "new_password": "another long password"})
        assert_error(wrong, 403)
    limited = await user.post("/users/me/password", {"current_password": user.password,
                                                     "new_password": "another long password"})
    assert_error(limited, 429, "rate_limited")


async def test_the_directory_never_matches_part_of_an_email(client, settings):
    from tests.helpers import make_admin

    await register(client, "karl")  # karl@example.com
    user = await register_and_login(client, "lena")
    for q in ("example", "karl@ex", "@example.com"):
        found = [e["username"] for e in (await user.get(f"/users?q={q}")).body["items"]]
        assert "karl" not in found, q
    assert [e["username"] for e in (await user.get("/users?q=kar")).body["items"]] == ["karl"]  # by username
    assert (await user.get("/users?q=karl@example.com")).body["total"] == 0  # not even exactly, for a member
    admin = await make_admin(client, settings)
    exact = await admin.get("/users?q=KARL@example.com")
    assert [e["username"] for e in exact.body["items"]] == ["karl"]


async def test_the_server_header_names_no_versions(client):
    r = await call(client, "GET", "/users/session")
    assert r.headers["Server"] == "chatsvc"


async def test_logging_in_again_in_the_same_browser_ends_the_earlier_session(client):
    from aiohttp import CookieJar

    await register(client, "mona")
    first = await client.post("/api/v1/users/session", json={"username": "mona", "password": PASSWORD})
    old_cookie = first.cookies["chatsvc_session"].value
    second = await client.post("/api/v1/users/session", json={"username": "mona", "password": PASSWORD})
    assert second.status == 200
    assert (await client.get("/api/v1/users/me")).status == 200  # the jar holds the new cookie
    jar = client.session.cookie_jar
    assert isinstance(jar, CookieJar)
    jar.clear()
    replay = await client.get("/api/v1/users/me", cookies={"chatsvc_session": old_cookie})
    assert replay.status == 401  # the earlier session was revoked, not left alive


async def test_security_events_are_logged_one_line_each_without_secrets(client, caplog):
    import json
    import logging

    caplog.set_level(logging.INFO, logger="chatsvc.security")
    user = await register_and_login(client, "olaf")
    assert (await login(client, "olaf", "wrong password!")).status == 401
    assert_error(await user.get("/users?q=x", headers={"Authorization": "Bearer nope"}), 401)
    other = await register_and_login(client, "pia")
    project = (await other.post("/projects", {"name": "Private"})).body
    assert (await user.delete(f"/projects/{project['id']}")).status == 404  # hidden, not logged as a refusal
    added = await other.post(f"/projects/{project['id']}/members", {"user_id": user.id, "role": "viewer"})
    assert added.status == 201
    assert (await user.delete(f"/projects/{project['id']}")).status == 403
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "chatsvc.security"]
    kinds = [e["event"] for e in events]
    assert "login_failed" in kinds and "unauthorized" in kinds and kinds.count("forbidden") == 1
    forbidden = next(e for e in events if e["event"] == "forbidden")
    assert forbidden["user_id"] == user.id and forbidden["method"] == "DELETE" and forbidden["status"] == 403
    failed = next(e for e in events if e["event"] == "login_failed")
    assert failed["user_id"] == user.id and failed["ip"] == "127.0.0.1"
    text = caplog.text
    assert "wrong password!" not in text and user.token not in text and "Bearer" not in text
