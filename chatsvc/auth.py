"""Who is calling: bearer tokens and cookie sessions resolved against auth_sessions, plus CSRF."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from aiohttp_session import Session, get_session, new_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from chatsvc import keys
from chatsvc.errors import Forbidden, Unauthorized
from chatsvc.security import Principal, csrf_matches, csrf_token_for, new_token, token_hash
from storage import users
from storage.db import opened_at

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SESSION_ID_KEY = "sid"
TOUCH_EVERY_S = 60.0  # last_seen_at is written at most this often per session


class SessionCookieStorage(EncryptedCookieStorage):
    """The encrypted session cookie; with `secure=None` it is Secure exactly when the request came over HTTPS
    (directly, or through a trusted proxy's X-Forwarded-Proto)."""

    def __init__(self, secret_key: bytes, *, secure: bool | None, **params: Any) -> None:
        super().__init__(secret_key, secure=bool(secure), **params)
        self._secure_by_request = secure is None

    async def save_session(self, request: web.Request, response: web.StreamResponse, session: Session) -> None:
        if self._secure_by_request:  # save_session sets the cookie without awaiting: no other request interleaves
            self._cookie_params["secure"] = request.secure
        await super().save_session(request, response, session)


def bearer_from(request: web.Request) -> str | None:
    """Return the bearer token of the Authorization header, '' when the header is malformed."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return ""
    return value.strip()


async def resolve_principal(request: web.Request) -> Principal | None:
    """Find the caller of this request (cached on the request); None when anonymous."""
    if keys.PRINCIPAL_RESOLVED in request:
        return request.get(keys.PRINCIPAL)
    principal = await _resolve(request)
    request[keys.PRINCIPAL_RESOLVED] = True
    request[keys.PRINCIPAL] = principal
    return principal


async def _resolve(request: web.Request) -> Principal | None:
    app = request.app
    bearer = bearer_from(request)
    if bearer is not None:
        if not bearer:
            return None
        kind, secret = "bearer", bearer
    else:
        session = await get_session(request)
        sid = session.get(SESSION_ID_KEY)
        if not isinstance(sid, str):
            return None
        kind, secret = "cookie", sid
    principal = await principal_for(app, kind, secret)
    if principal is not None and kind == "cookie":
        request[keys.SESSION_SECRET] = secret
    return principal


async def principal_for(app: web.Application, kind: str, secret: str) -> Principal | None:
    """The caller behind a bearer token or cookie session id: from the access cache while it is surely valid,
    else from the database (which then refills the cache); None when unknown, expired, revoked or disabled."""
    settings, db, cache = app[keys.SETTINGS], app[keys.DB], app[keys.ACCESS]
    hashed = token_hash(secret)
    now = time.time()
    entry = cache.session(kind, hashed)
    if entry is not None and now < entry.expires_at and now - entry.last_seen < settings.session_idle_s:
        if now - entry.last_seen > TOUCH_EVERY_S:
            async with db.write() as s:
                await users.touch_auth_session(s, entry.principal.auth_session_id)
            entry.last_seen = now
        return entry.principal
    async with db.read() as s:
        found = await users.live_auth_session(s, hashed, kind, settings.session_idle_s)
        read_opened_at = opened_at(s)
    if found is None:
        return None
    auth_session, user = found
    last_seen = auth_session.last_seen_at.timestamp()
    if now - last_seen > TOUCH_EVERY_S:
        async with db.write() as s:
            await users.touch_auth_session(s, auth_session.id)
        last_seen = now
    principal = Principal(
        user_id=user.id, username=user.username, is_superuser=user.is_superuser,
        auth_session_id=auth_session.id, via=kind, access=cache,
    )
    cache.remember_session(read_opened_at, kind, hashed, principal, auth_session.expires_at.timestamp(), last_seen)
    return principal


async def require_principal(request: web.Request) -> Principal:
    """Return the caller or raise 401; enforce CSRF for cookie-authenticated unsafe requests."""
    principal = await resolve_principal(request)
    if principal is None:
        raise Unauthorized("Log in first: send a bearer token or a session cookie.")
    if principal.via == "cookie" and request.method in UNSAFE_METHODS:
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            raise Forbidden("Cross-site requests are not accepted.", code="forbidden")
        secret_key = request.app[keys.SETTINGS].secret_key
        if not csrf_matches(secret_key, request[keys.SESSION_SECRET], request.headers.get("X-CSRF-Token")):
            raise Forbidden("Missing or wrong X-CSRF-Token header for this cookie session.")
    return principal


def csrf_token(request: web.Request) -> str | None:
    """Return the CSRF token of the request's cookie session, if it has one."""
    sid = request.get(keys.SESSION_SECRET)
    return csrf_token_for(request.app[keys.SETTINGS].secret_key, sid) if sid else None


async def start_cookie_session(request: web.Request, user_id: str) -> tuple[str, str]:
    """Create a server-side session and put only its id in a fresh encrypted cookie; return (row id, csrf)."""
    settings = request.app[keys.SETTINGS]
    sid = new_token()
    async with request.app[keys.DB].write() as s:
        row = await users.add_auth_session(
            s, user_id=user_id, kind="cookie", token_hash=token_hash(sid),
            ttl_s=settings.session_absolute_s, user_agent=request.headers.get("User-Agent", ""),
            ip=request.remote or "",
        )
    session: Session = await new_session(request)  # a new cookie value at every login
    session[SESSION_ID_KEY] = sid
    request[keys.SESSION_SECRET] = sid
    return row.id, csrf_token_for(settings.secret_key, sid)


async def end_cookie_session(request: web.Request) -> None:
    """Clear the session cookie."""
    session = await get_session(request)
    session.invalidate()
