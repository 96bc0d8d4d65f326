"""Test fixtures: the real app from the real factory on a real SQLite file (or PostgreSQL), asyncio debug on."""

from __future__ import annotations

import asyncio
import gc
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PYTHONASYNCIODEBUG", "1")
# Debug mode records a stack (with file stats) for every Future; keep it short so the 50 ms guard
# measures our code rather than the debugger's bookkeeping.
import asyncio.constants  # noqa: E402
import traceback  # noqa: E402

asyncio.constants.DEBUG_STACK_DEPTH = 2


def _shallow_extract_stack(f=None, limit=None):  # type: ignore[no-untyped-def]
    if f is None:  # this body runs with the traceback module's globals (see below)
        f = sys._getframe().f_back  # noqa: F821
    return StackSummary.extract(walk_stack(f), limit=2 if limit is None else limit, lookup_lines=False)  # noqa: F821


# asyncio's C Future (and aiohttp's client objects) call traceback.extract_stack() with no limit for
# every future in debug mode, which roughly halves the suite's speed. The C module holds on to the
# function object, so give that object a bounded body (same module globals: StackSummary, walk_stack).
traceback.extract_stack.__code__ = _shallow_extract_stack.__code__

import langchain_core.messages  # noqa: E402,F401 - imported once here, not by a thread-mode worker mid-test
import langgraph.graph  # noqa: E402,F401
import langgraph.prebuilt  # noqa: E402,F401

from chatsvc.app import create_app  # noqa: E402
from chatsvc.settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import run_migrations_blocking  # noqa: E402
from tests import loopguard  # noqa: E402
from tests.hangguard import pytest_runtest_protocol, pytest_timeout_set_timer  # noqa: E402,F401 - its hooks
from tests.recorder import record_events  # noqa: E402

POSTGRES_URL = os.environ.get("CHATSVC_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CHATSVC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# CI sets this: a missing PostgreSQL/Redis is then a failure, not a skip.
REQUIRE_SERVICES = os.environ.get("CHATSVC_REQUIRE_SERVICES", "") not in ("", "0", "false")


_slow_callbacks: list[str] = loopguard.blocked  # the same list: tests/test_loop_guard.py reads it here
loopguard.install()


@pytest.fixture(autouse=True)
async def loop_must_not_block() -> AsyncIterator[None]:
    """Run every test in asyncio debug mode; fail it when one callback uses > 50 ms of the loop's CPU."""
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 1.0  # asyncio's own wall-clock report, for gross cases in the log
    _slow_callbacks.clear()
    yield
    found = list(_slow_callbacks)
    _slow_callbacks.clear()
    if found:
        pytest.fail("the event loop was blocked:\n" + "\n".join(found[:5]), pytrace=False)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test server: temp data dir, cheap bcrypt, a quick offline model.

    Agent runs use worker processes as in production (one per app, started at the first run); tests of
    thread mode ask for it explicitly.
    """
    values: dict[str, Any] = dict(
        data_dir=tmp_path / "data", port=0, bcrypt_rounds=4, offline_tokens_per_s=500.0,
        agent_executor="process", agent_processes=1,
        registrations_per_ip=10_000,  # every test user registers from 127.0.0.1; test_users tests the limit
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> Any:
    """A test client talking HTTP to the real app on a real SQLite file."""
    return await aiohttp_client(await build_app(settings))


async def build_app(settings: Settings, **kw: Any) -> Any:
    """Build the app off the loop, as run.py does before the loop starts (imports are not loop work)."""
    app = await asyncio.to_thread(create_app, settings, **kw)
    app.on_startup.append(record_events)
    return app


def _service_unavailable(what: str, error: BaseException) -> None:
    message = f"{what} is not reachable ({error.__class__.__name__}: {error})"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and CHATSVC_REQUIRE_SERVICES is set", pytrace=False)
    pytest.skip(message + "; set CHATSVC_REQUIRE_SERVICES=1 to make this a failure")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the test Redis; its keys are deleted afterwards."""
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.Redis.from_url(REDIS_URL)
    try:
        await asyncio.wait_for(client.ping(), 5)
    except Exception as exc:
        await client.aclose()
        _service_unavailable(f"Redis at {REDIS_URL}", exc)
    prefix = f"chatsvc:test:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        stale = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if stale:
            await client.delete(*stale)
        await client.aclose()


def redis_url_with(prefix: str) -> str:
    """CHATSVC_REDIS_URL for the test Redis with a key prefix (the bus reads it from the URL)."""
    return f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}prefix={prefix}"


async def postgres_schema() -> tuple[str, dict[str, Any], str]:
    """Create a fresh schema in the test database; return (url, connect_args, schema)."""
    try:
        import asyncpg
    except ImportError as exc:  # pragma: no cover - asyncpg is in the test extra
        _service_unavailable("asyncpg", exc)
    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn), 5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        _service_unavailable(f"PostgreSQL at {POSTGRES_URL}", exc)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    return POSTGRES_URL, {"server_settings": {"search_path": schema}}, schema


async def drop_postgres_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def any_db_client(request: Any, aiohttp_client: Any, tmp_path: Path) -> AsyncIterator[Any]:
    """A client on SQLite, then on PostgreSQL: the storage suite runs on both."""
    if request.param == "sqlite":
        settings = make_settings(tmp_path)
        yield await aiohttp_client(await build_app(settings))
        return
    url, connect_args, schema = await postgres_schema()
    settings = make_settings(tmp_path, database_url=url)
    try:
        yield await aiohttp_client(await build_app(settings, db_connect_args=connect_args))
    finally:
        await drop_postgres_schema(schema)


def pytest_collection_finish(session: Any) -> None:
    """Move everything imported so far out of the collector's way, as the server does after start-up."""
    gc.collect()
    gc.freeze()


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: Any, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database on each backend."""
    schema = None
    if request.param == "sqlite":
        url, connect_args = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", None
    else:
        url, connect_args, schema = await postgres_schema()
    await asyncio.to_thread(run_migrations_blocking, url, connect_args)
    database = Database(url, connect_args=connect_args)
    try:
        yield database
    finally:
        await database.close()
        if schema:
            await drop_postgres_schema(schema)
