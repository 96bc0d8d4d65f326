"""UserService: the account commands of the caller themself, each end to end.

Registration, password login (bearer token or, through the view, a cookie session), logout, and changes
to one's own profile and password. Login rules: unknown user and wrong password cost the same time and
give the same 401; failures count per account and per IP (see authenticate); a disabled account's correct
password gets 403. The cookie itself, the CSRF
token and the request's address are HTTP matters: the views handle them and pass plain values in.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chatsvc import authz
from chatsvc.audit import security_event
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
THROTTLED_PAUSE_S = 1.0  # before each attempt from an IP over its failure limit
MAX_THROTTLED_WAITING = 8  # attempts queued per throttled IP; more answer 429 at once
MAX_THROTTLED_IPS = 10_000
PASSWORD_CHANGE = "password change"  # the limiter's "ip" for wrong current passwords: one bucket per account


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
                 settings: Settings, registrations: LoginLimiter) -> None:
        self.db = db
        self.bus = bus
        self.passwords = passwords
        self.limiter = limiter
        self.registrations = registrations  # accounts created per client IP (every process: Redis)
        self.settings = settings
        self._throttled: dict[str, list[Any]] = {}  # ip -> [lock, attempts queued]: see _verify_throttled

    async def register(self, *, email: str, username: str, password: str, full_name: str, ip: str) -> UserOut:
        """Create an account with the default role; a taken email or username is a 409 naming the field;
        more than `registrations_per_ip` new accounts from one client IP in the window: 429.

        With `first_user_admin` (a local single-user install) the very first account becomes a superuser.
        """
        wait = await self.registrations.ip_wait(ip)
        if wait is not None:
            raise RateLimited(wait, "Too many new accounts from your network; wait before registering another.")
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
            out = UserOut.model_validate(user)
        await self.registrations.record_ip(ip)
        return out

    async def authenticate(self, login: str, password: str, *, ip: str) -> UserOut:
        """Check a username-or-email and password, rate limited per account and IP; record the login time.

        Failures count per account (its username and email are one account) and IP, and per IP over all
        accounts. An account over its limit from an IP answers 429 at once. An IP over its limit (someone there
        is spraying accounts) does not lock out the others behind it — a whole office behind one NAT or proxy:
        its attempts go one at a time, each after a pause, and a correct password still gets in; a wrong one
        answers 429.
        """
        limiter_ip = ip or "?"  # an unknown address still shares one bucket
        async with self.db.read() as s:
            user = await users.by_login(s, login)
        account = user.id if user is not None else login  # one bucket whichever spelling is used
        wait = await self.limiter.account_wait(account, limiter_ip)
        if wait is not None:
            raise RateLimited(wait, "Too many failed logins; wait before trying again.")
        ip_wait = await self.limiter.ip_wait(limiter_ip)
        if ip_wait is None:
            ok = await self._verify(password, user)
        else:
            ok = await self._verify_throttled(limiter_ip, ip_wait, password, user)
        if not ok or user is None:
            await self.limiter.record_failure(account, limiter_ip)
            security_event("login_failed", user_id=user.id if user else None, known_user=user is not None,
                           ip=limiter_ip, throttled=ip_wait is not None)
            if ip_wait is not None:
                raise RateLimited(ip_wait, "Too many failed logins from your network; wait before trying again.")
            raise Unauthorized(BAD_LOGIN)
        if not user.is_active:
            raise Forbidden("This account is disabled.")
        async with self.db.write() as s:
            row = await users.get(s, user.id)
            assert row is not None
            row.last_login_at = utcnow()
        return UserOut.model_validate(row)

    async def _verify(self, password: str, user: User | None) -> bool:
        # Verified against a dummy hash when the user is unknown, so both failures take the same time.
        return await self.passwords.verify(password, user.password_hash if user else None)

    async def _verify_throttled(self, ip: str, wait: int, password: str, user: User | None) -> bool:
        """One attempt at a time from a throttled IP, each after THROTTLED_PAUSE_S: guessing from there crawls."""
        queued = self._throttled.get(ip)
        if queued is None:
            if len(self._throttled) >= MAX_THROTTLED_IPS:
                raise RateLimited(wait, "Too many failed logins from your network; wait before trying again.")
            queued = self._throttled[ip] = [asyncio.Lock(), 0]
        gate: asyncio.Lock = queued[0]
        if queued[1] >= MAX_THROTTLED_WAITING:
            raise RateLimited(wait, "Too many failed logins from your network; wait before trying again.")
        queued[1] += 1
        try:
            async with gate:
                await asyncio.sleep(THROTTLED_PAUSE_S)
                return await self._verify(password, user)
        finally:
            queued[1] -= 1
            if queued[1] == 0:
                del self._throttled[ip]

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
        # Wrong current passwords count like failed logins (a stolen session must not become a password oracle).
        wait = await self.limiter.account_wait(user.id, PASSWORD_CHANGE)
        if wait is not None:
            raise RateLimited(wait, "Too many wrong current passwords; wait before trying again.")
        # Both bcrypt calls run before the write transaction, so it is never held open for them.
        if not await self.passwords.verify(current_password, user.password_hash):
            await self.limiter.record_failure(user.id, PASSWORD_CHANGE)
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
