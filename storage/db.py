"""Engines and sessions: SQLite pragmas, BEGIN IMMEDIATE for writes, one code path for PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA synchronous=NORMAL",
)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _prepare_sqlite(engine: AsyncEngine, begin: str) -> None:
    """Take transaction control from the driver so we can emit our own BEGIN (SQLAlchemy's recipe)."""

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def make_engine(url: str, *, write: bool = True, connect_args: dict[str, Any] | None = None) -> AsyncEngine:
    """Create an engine; for SQLite, writers BEGIN IMMEDIATE and share one connection."""
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if write:
            # One writer connection: SQLite allows one writer anyway, and waiting in the
            # pool queue is async, whereas waiting on the file lock is not.
            kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60)
        engine = create_async_engine(url, **kwargs)
        _prepare_sqlite(engine, "BEGIN IMMEDIATE" if write else "BEGIN")
        return engine
    return create_async_engine(
        url, pool_size=10, max_overflow=10, pool_pre_ping=True, connect_args=connect_args or {}
    )


class Database:
    """The process's engines and session factories; handlers open one transaction per request."""

    def __init__(self, url: str, connect_args: dict[str, Any] | None = None) -> None:
        self.url = url
        self.connect_args = connect_args
        self.sqlite = is_sqlite(url)
        self.write_engine = make_engine(url, write=True, connect_args=connect_args)
        self.read_engine = (
            make_engine(url, write=False) if self.sqlite else self.write_engine
        )
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """Open a write transaction that commits on success and rolls back on error."""
        async with self._write() as session:
            async with session.begin():
                yield session

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Open a read-only transaction (deferred BEGIN on SQLite, so readers never wait for writers)."""
        async with self._read() as session:
            async with session.begin():
                yield session

    async def ping(self) -> None:
        """Check the database answers."""
        async with self.read() as session:
            from sqlalchemy import text

            await session.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


def run_migrations_blocking(url: str, connect_args: dict[str, Any] | None = None) -> None:
    """Apply Alembic migrations to head; blocking, so call it in a thread (it runs its own loop)."""
    from storage.migrate import upgrade_head

    asyncio.run(upgrade_head(url, connect_args))
