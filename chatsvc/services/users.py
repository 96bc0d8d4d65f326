"""UserService: the account commands of the caller themself, each end to end.

Registration, password login (bearer token or, through the view, a cookie session), logout, and changes
to one's own profile and password. Login rules: unknown user and wrong password cost the same time and
give the same 401; failures count per account and per IP, and an (account, IP) or IP over its limit gets a
429 with the seconds to wait; a disabled account's correct password gets 403. The cookie itself, the CSRF
token and the request's address are HTTP matters: the views handle them and pass plain values in.
"""

from __future__ import annotations

from chatsvc import authz
from chatsvc.errors import Conflict, Forbidden, RateLimited, Unauthorized
from chatsvc.events import EventBus, publish_sessions_revoked
from chatsvc.permissions import DEFAULT_ROLE
from chatsvc.schemas.users import MeOut, TokenOut, UserOut
from chatsvc.security import LoginLimiter, PasswordHasher, Principal, new_token, token_hash
from chatsvc.settings import Settings
from storage import rbac, users
from storage.db import Database
from storage.models import User, utcnow

BAD_LOGIN = "Wrong username or password."


def me_json(user: User, permissions: set[str]) -> MeOut:
    """Serialise the caller's own account with their global permissions (the view adds the CSRF token)."""
    out = MeOut.model_validate(user)
    out.permissions = sorted(permissions)
    return out


def _refuse_taken(clashes: list[str]) -> None:
    if clashes:
        raise Conflict(f"That {' and '.join(clashes)} is already taken.",
                       details=[{"loc": ["body", c], "msg": "already taken"} for c in clashes])


class UserService:
    """Register, log in and out, change one's own profile and password."""

    def __init__(self, *, db: Database, bus: EventBus, passwords: PasswordHasher, limiter: LoginLimiter,
                 settings: Settings) -> None:
        self.db = db
        self.bus = bus
        self.passwords = passwords
        self.limiter = limiter
        self.settings = settings

    async def register(self, *, email: str, username: str, password: str, full_name: str) -> UserOut:
        """Create an account with the default role; a taken email or username is a 409 naming the field.

        With `first_user_admin` (a local single-user install) the very first account becomes a superuser.
        """
        async with self.db.read() as s:  # a taken name costs no bcrypt (a flood of them starved logins)
            _refuse_taken(await users.taken(s, email=email, username=username))
        password_hash = await self.passwords.hash(password)  # before the transaction: bcrypt is slow
        async with self.db.write() as s:
            _refuse_taken(await users.taken(s, email=email, username=username))  # taken meanwhile
            make_admin = self.settings.first_user_admin and await users.count(s) == 0
            user = await users.create(
                s, email=email, username=username, password_hash=password_hash,
                full_name=full_name, is_superuser=make_admin,
            )
            for role_name in (DEFAULT_ROLE, "admin") if make_admin else (DEFAULT_ROLE,):
                role = await rbac.by_name(s, role_name)
                if role is not None:
                    await rbac.assign(s, user.id, role.id)
            return UserOut.model_validate(user)

    async def authenticate(self, login: str, password: str, *, ip: str) -> UserOut:
        """Check a username-or-email and password, rate limited per account and IP; record the login time."""
        limiter_ip = ip or "?"  # an unknown address still shares one bucket
        wait = self.limiter.retry_after(login, limiter_ip)
        if wait is not None:
            raise RateLimited(wait, "Too many failed logins; wait before trying again.")
        async with self.db.read() as s:
            user = await users.by_login(s, login)
        # Verified against a dummy hash when the user is unknown, so both failures take the same time.
        ok = await self.passwords.verify(password, user.password_hash if user else None)
        if not ok or user is None:
            self.limiter.record_failure(login, limiter_ip)
            raise Unauthorized(BAD_LOGIN)
        if not user.is_active:
            raise Forbidden("This account is disabled.")
        async with self.db.write() as s:
            row = await users.get(s, user.id)
            assert row is not None
            row.last_login_at = utcnow()
        return UserOut.model_validate(row)

    async def login_bearer(self, login: str, password: str, *, ip: str, user_agent: str) -> TokenOut:
        """Authenticate, then issue a bearer token (stored only as its hash)."""
        user = await self.authenticate(login, password, ip=ip)
        token = new_token()
        ttl = self.settings.token_ttl_s
        async with self.db.write() as s:
            await users.add_auth_session(
                s, user_id=user.id, kind="bearer", token_hash=token_hash(token), ttl_s=ttl,
                user_agent=user_agent, ip=ip,
            )
        return TokenOut(access_token=token, expires_in=ttl, user=user)

    async def logout(self, principal: Principal) -> None:
        """Revoke the caller's own token or session; its live sockets close after commit."""
        async with self.db.write() as s:
            await users.revoke_auth_session(s, principal.auth_session_id)
        publish_sessions_revoked(self.bus, principal.user_id, [principal.auth_session_id])

    async def update_me(self, principal: Principal, *, email: str | None, full_name: str | None) -> MeOut:
        """Change the caller's email or name; an email someone else has is a 409."""
        async with self.db.write() as s:
            user = await users.get(s, principal.user_id)
            assert user is not None  # the principal was resolved against a live account
            if email is not None and email.lower() != user.email:
                if await users.taken(s, email=email, username="\x00"):  # NUL: no username can match
                    raise Conflict("That email is already taken.")
                user.email = email.lower()
            if full_name is not None:
                user.full_name = full_name
            await s.flush()
            return me_json(user, await authz.global_permissions(s, principal))

    async def change_password(self, principal: Principal, *, current_password: str, new_password: str,
                              logout_other_sessions: bool) -> UserOut:
        """Change the caller's password (403 when the current one is wrong), optionally revoking their other
        sessions and tokens; the session making the change stays."""
        async with self.db.read() as s:
            user = await users.get(s, principal.user_id)
        assert user is not None
        # Both bcrypt calls run before the write transaction, so it is never held open for them.
        if not await self.passwords.verify(current_password, user.password_hash):
            raise Forbidden("The current password is wrong.")
        new_hash = await self.passwords.hash(new_password)
        async with self.db.write() as s:
            user = await users.get(s, principal.user_id)
            assert user is not None
            user.password_hash = new_hash
            revoked: list[str] = []
            if logout_other_sessions:
                revoked = await users.revoke_user_sessions(s, user.id, except_id=principal.auth_session_id)
            await s.flush()
            out = UserOut.model_validate(user)
        publish_sessions_revoked(self.bus, out.id, revoked)
        return out
