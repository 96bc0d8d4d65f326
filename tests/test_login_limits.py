"""Failed-login limits counted in Redis: every process sees every failure (with --workers N, not N × the limit)."""

from __future__ import annotations

import pytest

from tests.conftest import redis_url_with

pytest.importorskip("redis")


async def test_two_processes_share_one_count(redis_prefix):
    from chatsvc.redis_limiter import RedisLoginLimiter

    url = redis_url_with(redis_prefix)
    a, b = (RedisLoginLimiter(url, per_account=4, per_ip=100, window_s=60) for _ in range(2))
    try:
        for limiter in (a, b, a, b):  # four failures spread over two "processes"
            assert await limiter.account_wait("user-1", "203.0.113.7") is None
            await limiter.record_failure("user-1", "203.0.113.7")
        for limiter in (a, b):
            wait = await limiter.account_wait("USER-1", "203.0.113.7")
            assert wait is not None and 1 <= wait <= 61
        assert await a.account_wait("user-1", "198.51.100.9") is None  # another place is not affected
        assert await b.account_wait("user-2", "203.0.113.7") is None
        assert await a.ip_wait("203.0.113.7") is None
    finally:
        await a.close()
        await b.close()


async def test_without_redis_logins_still_work_counted_in_the_process():
    from chatsvc.redis_limiter import RedisLoginLimiter

    limiter = RedisLoginLimiter("redis://127.0.0.1:1/0", per_account=2, per_ip=100, window_s=60)  # nothing there
    try:
        assert await limiter.account_wait("user-1", "ip") is None
        await limiter.record_failure("user-1", "ip")
        await limiter.record_failure("user-1", "ip")
        assert await limiter.account_wait("user-1", "ip") is not None  # the local count still protects
    finally:
        await limiter.close()
