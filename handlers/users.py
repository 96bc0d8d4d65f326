"""Registration, login (bearer and cookie session), logout, the caller's profile, the user directory.

Commands are UserService calls (chatsvc/services/users.py states the login rules); reads stay here, and so
does everything HTTP: the session cookie, the CSRF token, the caller's address and User-Agent.
"""

from __future__ import annotations

from typing import Any

from chatsvc import authz, keys
from chatsvc.auth import csrf_token, end_cookie_session, start_cookie_session
from chatsvc.schemas import Page, page_of
from chatsvc.schemas.users import (
    BrowserLoginRequest,
    BrowserSessionOut,
    BrowserSessionStateOut,
    DirectoryEntry,
    DirectoryQuery,
    LoginRequest,
    MeOut,
    MeUpdate,
    PasswordChange,
    TokenOut,
    UserOut,
    UserRegister,
)
from chatsvc.services.users import UserService, me_json
from chatsvc.views import ApiView, endpoint
from storage import users


class AccountView(ApiView):
    """Shared helpers of the account views."""

    tag = "users"

    @property
    def users(self) -> UserService:
        return self.app[keys.SERVICES].users

    def client_ip(self) -> str:
        return self.request.remote or ""


class RegisterView(AccountView):
    path = "/users/register"

    @endpoint("Register a new account", body=UserRegister, response=UserOut, status=201, auth=False,
              errors=(409, 422, 429, 503))
    async def post(self, body: UserRegister) -> UserOut:
        return await self.users.register(email=body.email, username=body.username, password=body.password,
                                         full_name=body.full_name, ip=self.client_ip())


class LoginView(AccountView):
    path = "/users/login"

    @endpoint("Log in with the OAuth2 password grant and get a bearer token", body=LoginRequest,
              response=TokenOut, auth=False, form=True, errors=(401, 403, 429, 503))
    async def post(self, body: LoginRequest) -> TokenOut:
        return await self.users.login_bearer(body.username, body.password, ip=self.client_ip(),
                                             user_agent=self.request.headers.get("User-Agent", ""))


class LogoutView(AccountView):
    path = "/users/logout"

    @endpoint("Revoke the presented token or session", status=204)
    async def post(self) -> None:
        await self.users.logout(self.principal)
        if self.principal.via == "cookie":
            await end_cookie_session(self.request)


class BrowserSessionView(AccountView):
    path = "/users/session"

    @endpoint("Browser boot probe: the signed-in user and CSRF token, or nulls (never 401)",
              response=BrowserSessionStateOut, auth=False,
              description="Lets a page find out whether its cookie session is still valid without logging a failed "
                          "request. Bearer callers get their user and a null csrf_token.")
    async def get(self) -> BrowserSessionStateOut:
        principal = getattr(self, "principal", None)
        if principal is None:
            return BrowserSessionStateOut(user=None, csrf_token=None)
        async with self.db.read() as s:
            user = await users.get(s, principal.user_id)
        return BrowserSessionStateOut(user=UserOut.model_validate(user) if user else None,
                                      csrf_token=csrf_token(self.request))

    @endpoint("Browser login: set the session cookie and return the CSRF token", body=BrowserLoginRequest,
              response=BrowserSessionOut, auth=False, errors=(401, 403, 429, 503))
    async def post(self, body: BrowserLoginRequest) -> BrowserSessionOut:
        user = await self.users.authenticate(body.username, body.password, ip=self.client_ip())
        earlier = getattr(self, "principal", None)
        if earlier is not None and earlier.via == "cookie":  # a new login in this browser ends the one before
            await self.users.logout(earlier)
        _row_id, csrf = await start_cookie_session(self.request, user.id)
        return BrowserSessionOut(user=user, csrf_token=csrf)

    @endpoint("Browser logout: revoke the session and clear the cookie", status=204)
    async def delete(self) -> None:
        await self.users.logout(self.principal)
        await end_cookie_session(self.request)


class MeView(AccountView):
    path = "/users/me"

    @endpoint("Who am I: profile, global permissions, and the CSRF token of a cookie session", response=MeOut)
    async def get(self) -> MeOut:
        async with self.db.read() as s:
            user = await users.get(s, self.principal.user_id)
            assert user is not None
            out = me_json(user, await authz.global_permissions(s, self.principal))
        out.csrf_token = csrf_token(self.request)
        return out

    @endpoint("Change my name or email", body=MeUpdate, response=MeOut, errors=(409, 422))
    async def patch(self, body: MeUpdate) -> MeOut:
        out = await self.users.update_me(self.principal, email=body.email, full_name=body.full_name)
        out.csrf_token = csrf_token(self.request)
        return out


class PasswordView(AccountView):
    path = "/users/me/password"

    @endpoint("Change my password, optionally logging out my other sessions", body=PasswordChange,
              response=UserOut, errors=(403, 422, 429, 503))
    async def post(self, body: PasswordChange) -> UserOut:
        return await self.users.change_password(self.principal, current_password=body.current_password,
                                                new_password=body.new_password,
                                                logout_other_sessions=body.logout_other_sessions)


class DirectoryView(AccountView):
    path = "/users"

    @endpoint("Search the user directory (to add project members)", query=DirectoryQuery,
              response=Page[DirectoryEntry],
              description="`q` matches part of a username or full name; holders of `admin.access` also find a "
                          "user by their exact email. Never by part of an email.")
    async def get(self, query: DirectoryQuery) -> dict[str, Any]:
        async with self.db.read() as s:
            await authz.require_permission(s, self.principal, "users.read")
            admin = "admin.access" in await authz.global_permissions(s, self.principal)
            rows, total = await users.search(s, query.q, query.limit, query.offset, exact_email=admin)
        return page_of(DirectoryEntry, rows, total, query)  # type: ignore[arg-type]


VIEWS = [RegisterView, LoginView, LogoutView, BrowserSessionView, MeView, PasswordView, DirectoryView]
