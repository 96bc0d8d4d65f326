"""Registration, login (bearer and cookie session), logout, the caller's profile, the user directory."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatsvc import authz, keys
from chatsvc.auth import csrf_token, end_cookie_session, start_cookie_session
from chatsvc.errors import Conflict, Forbidden, RateLimited, Unauthorized
from chatsvc.events import publish_sessions_revoked
from chatsvc.permissions import DEFAULT_ROLE
from chatsvc.schemas import Page, page_of
from chatsvc.schemas.users import (
    DirectoryEntry,
    DirectoryQuery,
    LoginRequest,
    MeOut,
    MeUpdate,
    PasswordChange,
    SessionLoginRequest,
    SessionOut,
    SessionStateOut,
    TokenOut,
    UserOut,
    UserRegister,
)
from chatsvc.security import new_token, token_hash
from chatsvc.views import ApiView, endpoint
from storage import rbac, users
from storage.models import User, utcnow

BAD_LOGIN = "Wrong username or password."


async def check_password_login(request: web.Request, login: str, password: str) -> User:
    """Verify credentials with equal time for unknown users, counting failures per account and IP."""
    app = request.app
    limiter = app[keys.LOGIN_LIMITER]
    ip = request.remote or "?"
    wait = limiter.retry_after(login, ip)
    if wait is not None:
        raise RateLimited(wait, "Too many failed logins; wait before trying again.")
    async with app[keys.DB].read() as s:
        user = await users.by_login(s, login)
    ok = await app[keys.PASSWORDS].verify(password, user.password_hash if user else None)
    if not ok or user is None:
        limiter.record_failure(login, ip)
        raise Unauthorized(BAD_LOGIN)
    if not user.is_active:
        raise Forbidden("This account is disabled.")
    async with app[keys.DB].write() as s:
        row = await users.get(s, user.id)
        assert row is not None
        row.last_login_at = utcnow()
    return row


class RegisterView(ApiView):
    path = "/users/register"
    tag = "users"

    @endpoint("Register a new account", body=UserRegister, response=UserOut, status=201, auth=False,
              errors=(409, 422))
    async def post(self, body: UserRegister) -> UserOut:
        password_hash = await self.app[keys.PASSWORDS].hash(body.password)
        async with self.db.write() as s:
            clashes = await users.taken(s, email=body.email, username=body.username)
            if clashes:
                raise Conflict(f"That {' and '.join(clashes)} is already taken.",
                               details=[{"loc": ["body", c], "msg": "already taken"} for c in clashes])
            make_admin = self.settings.first_user_admin and await users.count(s) == 0
            user = await users.create(
                s, email=body.email, username=body.username, password_hash=password_hash,
                full_name=body.full_name, is_superuser=make_admin,
            )
            for role_name in (DEFAULT_ROLE, "admin") if make_admin else (DEFAULT_ROLE,):
                role = await rbac.by_name(s, role_name)
                if role is not None:
                    await rbac.assign(s, user.id, role.id)
            out = UserOut.model_validate(user)
        return out


class LoginView(ApiView):
    path = "/users/login"
    tag = "users"

    @endpoint("Log in with the OAuth2 password grant and get a bearer token", body=LoginRequest,
              response=TokenOut, auth=False, form=True, errors=(401, 403, 429))
    async def post(self, body: LoginRequest) -> TokenOut:
        user = await check_password_login(self.request, body.username, body.password)
        token = new_token()
        ttl = self.settings.token_ttl_s
        async with self.db.write() as s:
            await users.add_auth_session(
                s, user_id=user.id, kind="bearer", token_hash=token_hash(token), ttl_s=ttl,
                user_agent=self.request.headers.get("User-Agent", ""), ip=self.request.remote or "",
            )
        return TokenOut(access_token=token, expires_in=ttl, user=UserOut.model_validate(user))


class LogoutView(ApiView):
    path = "/users/logout"
    tag = "users"

    @endpoint("Revoke the presented token or session", status=204)
    async def post(self) -> None:
        async with self.db.write() as s:
            await users.revoke_auth_session(s, self.principal.auth_session_id)
        publish_sessions_revoked(self.app[keys.EVENTS], self.principal.user_id,
                                 [self.principal.auth_session_id])
        if self.principal.via == "cookie":
            await end_cookie_session(self.request)


class SessionView(ApiView):
    path = "/users/session"
    tag = "users"

    @endpoint("Browser boot probe: the signed-in user and CSRF token, or nulls (never 401)",
              response=SessionStateOut, auth=False,
              description="Lets a page find out whether its cookie session is still valid without logging a failed "
                          "request. Bearer callers get their user and a null csrf_token.")
    async def get(self) -> SessionStateOut:
        principal = getattr(self, "principal", None)
        if principal is None:
            return SessionStateOut(user=None, csrf_token=None)
        async with self.db.read() as s:
            user = await users.get(s, principal.user_id)
        return SessionStateOut(user=UserOut.model_validate(user) if user else None, csrf_token=csrf_token(self.request))

    @endpoint("Browser login: set the session cookie and return the CSRF token", body=SessionLoginRequest,
              response=SessionOut, auth=False, errors=(401, 403, 429))
    async def post(self, body: SessionLoginRequest) -> SessionOut:
        user = await check_password_login(self.request, body.username, body.password)
        _row_id, csrf = await start_cookie_session(self.request, user.id)
        return SessionOut(user=UserOut.model_validate(user), csrf_token=csrf)

    @endpoint("Browser logout: revoke the session and clear the cookie", status=204)
    async def delete(self) -> None:
        async with self.db.write() as s:
            await users.revoke_auth_session(s, self.principal.auth_session_id)
        publish_sessions_revoked(self.app[keys.EVENTS], self.principal.user_id,
                                 [self.principal.auth_session_id])
        await end_cookie_session(self.request)


class MeView(ApiView):
    path = "/users/me"
    tag = "users"

    async def _me(self, user: User) -> MeOut:
        async with self.db.read() as s:
            perms = await authz.global_permissions(s, self.principal)
        out = MeOut.model_validate(user)
        out.permissions = sorted(perms)
        out.csrf_token = csrf_token(self.request)
        return out

    @endpoint("Who am I: profile, global permissions, and the CSRF token of a cookie session", response=MeOut)
    async def get(self) -> MeOut:
        async with self.db.read() as s:
            user = await users.get(s, self.principal.user_id)
        assert user is not None
        return await self._me(user)

    @endpoint("Change my name or email", body=MeUpdate, response=MeOut, errors=(409, 422))
    async def patch(self, body: MeUpdate) -> MeOut:
        async with self.db.write() as s:
            user = await users.get(s, self.principal.user_id)
            assert user is not None
            if body.email is not None and body.email.lower() != user.email:
                if await users.taken(s, email=body.email, username="\x00"):
                    raise Conflict("That email is already taken.")
                user.email = body.email.lower()
            if body.full_name is not None:
                user.full_name = body.full_name
            await s.flush()
        return await self._me(user)


class PasswordView(ApiView):
    path = "/users/me/password"
    tag = "users"

    @endpoint("Change my password, optionally logging out my other sessions", body=PasswordChange,
              response=UserOut, errors=(403, 422))
    async def post(self, body: PasswordChange) -> UserOut:
        hasher = self.app[keys.PASSWORDS]
        async with self.db.read() as s:
            user = await users.get(s, self.principal.user_id)
        assert user is not None
        if not await hasher.verify(body.current_password, user.password_hash):
            raise Forbidden("The current password is wrong.")
        new_hash = await hasher.hash(body.new_password)
        async with self.db.write() as s:
            user = await users.get(s, self.principal.user_id)
            assert user is not None
            user.password_hash = new_hash
            revoked: list[str] = []
            if body.logout_other_sessions:
                revoked = await users.revoke_user_sessions(s, user.id, except_id=self.principal.auth_session_id)
            await s.flush()
            out = UserOut.model_validate(user)
        publish_sessions_revoked(self.app[keys.EVENTS], user.id, revoked)
        return out


class DirectoryView(ApiView):
    path = "/users"
    tag = "users"

    @endpoint("Search the user directory (to add project members)", query=DirectoryQuery,
              response=Page[DirectoryEntry])
    async def get(self, query: DirectoryQuery) -> dict[str, Any]:
        async with self.db.read() as s:
            await authz.require_permission(s, self.principal, "users.read")
            rows, total = await users.search(s, query.q, query.limit, query.offset)
        return page_of(DirectoryEntry, rows, total, query)  # type: ignore[arg-type]


VIEWS = [RegisterView, LoginView, LogoutView, SessionView, MeView, PasswordView, DirectoryView]
