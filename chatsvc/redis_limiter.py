"""Failed-login counting in Redis, so N server processes allow what one does (not N times the attempts).

The same rules as security.LoginLimiter — per (account, ip) and per ip, over a sliding window — with each
bucket a sorted set of failure times under `<prefix>login:<key>`, expiring with the window. Each call is one
round trip (a Lua script). If Redis cannot be reached a login is not refused for it: the limiter falls back to
counting in this process until Redis answers again (an outage must not lock everybody out).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from chatsvc.redisbus import public_url, split_prefix
from chatsvc.security import LoginLimiter

log = logging.getLogger("chatsvc.limits")

# KEYS[1] bucket; ARGV: now, window, limit -> seconds to wait (0: under the limit)
WAIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
local limit = tonumber(ARGV[3])
if redis.call('ZCARD', KEYS[1]) < limit then return 0 end
local oldest = redis.call('ZRANGE', KEYS[1], -limit, -limit, 'WITHSCORES')
return math.max(1, math.floor(oldest[2] + ARGV[2] - ARGV[1]) + 1)
"""
# KEYS: buckets; ARGV: now, window, member
RECORD = """
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[1], ARGV[3])
  redis.call('EXPIRE', key, math.ceil(tonumber(ARGV[2])))
end
return 1
"""


class RedisLoginLimiter(LoginLimiter):
    """LoginLimiter counted in Redis for every process (falls back to this process's count without Redis)."""

    def __init__(self, url: str, per_account: int, per_ip: int, window_s: int, *, name: str = "login") -> None:
        super().__init__(per_account, per_ip, window_s)
        redis_url, prefix = split_prefix(url)
        self.prefix = prefix if name == "login" else f"{prefix}{name}."  # login keys keep their names
        self.redis: Redis = Redis.from_url(redis_url, decode_responses=True, socket_connect_timeout=2,
                                           socket_timeout=2, client_name=f"{self.prefix}limits")
        self._wait_script: Any = self.redis.register_script(WAIT)
        self._record_script: Any = self.redis.register_script(RECORD)
        self._url = public_url(redis_url)

    def _key(self, account: str, ip: str) -> str:
        return f"{self.prefix}login:{account.lower()}|{ip}"

    async def _remote_wait(self, key: str, limit: int) -> int | None:
        seconds = int(await self._wait_script(keys=[key], args=[time.time(), self.window_s, limit]))
        return seconds or None

    async def account_wait(self, account: str, ip: str) -> int | None:
        try:
            return await self._remote_wait(self._key(account, ip), self.per_account)
        except (RedisError, OSError) as exc:
            self._unreachable(exc)
            return await super().account_wait(account, ip)

    async def ip_wait(self, ip: str) -> int | None:
        try:
            return await self._remote_wait(self._key("*", ip), self.per_ip)
        except (RedisError, OSError) as exc:
            self._unreachable(exc)
            return await super().ip_wait(ip)

    async def record_failure(self, account: str, ip: str) -> None:
        await super().record_failure(account, ip)  # also here: the fallback must know the recent past
        await self._record([self._key(account, ip), self._key("*", ip)])

    async def record_ip(self, ip: str) -> None:
        await super().record_ip(ip)
        await self._record([self._key("*", ip)])

    async def _record(self, keys: list[str]) -> None:
        member = f"{time.time():.6f}:{secrets.token_hex(4)}"  # two events in one microsecond are two
        try:
            await self._record_script(keys=keys, args=[time.time(), self.window_s, member])
        except (RedisError, OSError) as exc:
            self._unreachable(exc)

    def _unreachable(self, exc: BaseException) -> None:
        log.warning("login limits: Redis at %s unreachable (%s); counting in this process meanwhile", self._url,
                    exc.__class__.__name__)

    async def close(self) -> None:
        await self.redis.aclose()
