"""Security primitives: bcrypt off the loop, opaque tokens, CSRF tokens, login rate limiting."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import bcrypt

from chatsvc.common_passwords import COMMON_PASSWORDS
from chatsvc.errors import Busy

if TYPE_CHECKING:
    from chatsvc.access_cache import AccessCache

T = TypeVar("T")

MIN_PASSWORD_BYTES = 8
MAX_PASSWORD_BYTES = 72  # bcrypt reads only 72 bytes; longer is refused, never truncated


def password_problem(password: str) -> str | None:
    """Say what is wrong with a new password, or None when it is acceptable."""
    size = len(password.encode("utf-8"))
    if size < MIN_PASSWORD_BYTES:
        return f"Password must be at least {MIN_PASSWORD_BYTES} bytes long."
    if size > MAX_PASSWORD_BYTES:
        return f"Password must be at most {MAX_PASSWORD_BYTES} bytes (UTF-8) long."
    if password.lower() in COMMON_PASSWORDS:
        return "This password is one of the most common ones and is guessed first: choose another."
    return None


class PasswordHasher:
    """bcrypt in the cpu executor behind a semaphore; unknown users cost the same as wrong passwords.

    The queue in front of it is bounded: past `concurrency × QUEUE_FACTOR` waiting hashes a request fails at once
    with a retryable 503 instead of queueing behind a flood (16 concurrent registrations made a real user's login
    wait 4 s). A full queue refuses new work; work already queued still runs.
    """

    QUEUE_FACTOR = 4

    def __init__(self, executor: Executor, rounds: int, concurrency: int) -> None:
        self._executor = executor
        self._rounds = rounds
        self._slots = asyncio.Semaphore(concurrency)
        self._max_waiting = concurrency * self.QUEUE_FACTOR
        self._waiting = 0
        self._dummy_hash: bytes | None = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._waiting >= self._max_waiting:
            raise Busy("Too many password checks are waiting; retry in a moment.", retry_after=1)
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._slots.release()

    async def warm_up(self) -> None:
        """Compute the dummy hash used to answer unknown users in constant time."""
        self._dummy_hash = (await self.hash(secrets.token_urlsafe(16))).encode()

    async def hash(self, password: str) -> str:
        """Hash a password that already passed password_problem()."""
        salt = bcrypt.gensalt(self._rounds)
        digest = await self._run(bcrypt.hashpw, password.encode("utf-8"), salt)
        return digest.decode()

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Check a password; with hashed=None, burn the same time and return False."""
        raw = password.encode("utf-8")
        if len(raw) > MAX_PASSWORD_BYTES:
            raw = b"\x00"  # cannot match; still spend the bcrypt time below
            hashed_bytes = self._dummy_hash or bcrypt.hashpw(b"x", bcrypt.gensalt(4))
            await self._run(bcrypt.checkpw, raw, hashed_bytes)
            return False
        if hashed is None:
            assert self._dummy_hash is not None, "warm_up() was not awaited"
            await self._run(bcrypt.checkpw, raw, self._dummy_hash)
            return False
        try:
            return bool(await self._run(bcrypt.checkpw, raw, hashed.encode()))
        except ValueError:
            return False


def new_token() -> str:
    """Return a new opaque secret (32 random bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token_for(secret_key: bytes, session_id: str) -> str:
    """Derive the CSRF token of a cookie session (no storage; survives page reloads)."""
    return hmac.new(secret_key, f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret_key: bytes, session_id: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token_for(secret_key, session_id), presented or "")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request or websocket."""

    user_id: str
    username: str
    is_superuser: bool
    auth_session_id: str
    via: str  # "bearer" | "cookie"
    # Where authz may remember this caller's project roles (chatsvc/access_cache.py); None: always ask the DB.
    access: AccessCache | None = field(default=None, compare=False, repr=False)


class LoginLimiter:
    """Count failed logins per (account, ip) and per ip in a sliding window; never locks out a victim elsewhere.

    This one counts in the process; with several processes the app uses chatsvc/redis_limiter.py, the same
    rules counted in Redis for all of them. Methods are coroutines for that reason.
    """

    def __init__(self, per_account: int, per_ip: int, window_s: int, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self.per_account = per_account
        self.per_ip = per_ip
        self.window_s = window_s
        self._clock = clock
        self._fails: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        now = self._clock()
        q = self._fails.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._fails[key]
        return q

    async def account_wait(self, account: str, ip: str) -> int | None:
        """Seconds to wait when this account is under attack from this ip, else None."""
        return self._wait((account.lower(), ip), self.per_account)

    async def ip_wait(self, ip: str) -> int | None:
        """Seconds until this ip is under its limit of failures over all accounts, else None."""
        return self._wait(("*", ip), self.per_ip)

    def _wait(self, key: tuple[str, str], limit: int) -> int | None:
        q = self._recent(key)
        if len(q) >= limit:
            return max(1, int(q[-limit] + self.window_s - self._clock()) + 1)
        return None

    async def record_ip(self, ip: str) -> None:
        """Count one event of this ip alone (the registration limiter counts accounts created per ip)."""
        self._fails.setdefault(("*", ip), deque()).append(self._clock())

    async def record_failure(self, account: str, ip: str) -> None:
        now = self._clock()
        for key in ((account.lower(), ip), ("*", ip)):
            self._fails.setdefault(key, deque()).append(now)
        if len(self._fails) > 100_000:  # bound memory under a spray of accounts
            self._prune()

    def _prune(self) -> None:
        for key in list(self._fails):
            self._recent(key)

    async def close(self) -> None:
        """Nothing to release here (the Redis limiter closes its connection)."""
