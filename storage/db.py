"""Engines and sessions: SQLite pragmas, BEGIN IMMEDIATE for writes, one code path for PostgreSQL."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

READ_CONNECTIONS = 8  # SQLite read pool size
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA synchronous=NORMAL",
)


OPENED_AT = "opened_at"  # session.info key: time.monotonic() before the transaction's first statement
WRITING = "writing"  # session.info key: True in a write transaction


def opened_at(session: AsyncSession) -> float:
    """When a transaction of ours opened: its snapshot holds every commit made before this moment."""
    return float(session.info.get(OPENED_AT, -1.0))


def is_writing(session: AsyncSession) -> bool:
    """Whether this is a write transaction (whose checks must read the database, never a cache)."""
    return bool(session.info.get(WRITING))


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


class OneHopCursor:
    """An aiosqlite-compatible cursor whose execute is ONE trip to the connection's thread.

    aiosqlite makes every cursor step a separate trip (create, execute, fetch, close), each a thread
    wake-up and a loop wake-up (~40 µs of CPU): a statement cost four, an authenticated GET 22 trips. Here
    the statement runs, its rows are fetched and its cursor closed in a single call on the connection's
    thread; the rows then come from memory. SQLAlchemy reads every row of a result at once anyway (no
    server-side cursors on SQLite). With the pool rule in _prepare_sqlite, that GET now makes 7 trips.
    """

    __slots__ = ("_conn", "description", "rowcount", "lastrowid", "arraysize", "_rows")

    def __init__(self, conn: OneHopConnection) -> None:
        self._conn = conn
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Any] = []

    def _raw(self) -> Any:
        """The aiosqlite connection, for its untyped internals (_execute, _conn); tests/test_sqlite_adapter.py
        fails loudly when an aiosqlite release changes them."""
        return self._conn

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        self._rows = []

    def _run(self, many: bool, sql: str, parameters: Any, begin: str | None) -> tuple[Any, int, int | None, list[Any]]:
        raw = self._raw()._conn  # on the connection's thread
        if begin is not None:  # the transaction's BEGIN rides with its first statement
            raw.execute(begin)
        cursor = raw.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
            rows = cursor.fetchall() if cursor.description else []
            return cursor.description, cursor.rowcount, cursor.lastrowid, rows
        finally:
            cursor.close()

    async def execute(self, sql: str, parameters: Any = None) -> OneHopCursor:
        self.description, self.rowcount, self.lastrowid, self._rows = await self._raw()._execute(
            self._run, False, sql, () if parameters is None else parameters, self._conn.take_begin())
        return self

    async def executemany(self, sql: str, parameters: Any) -> OneHopCursor:
        self.description, self.rowcount, self.lastrowid, self._rows = await self._raw()._execute(
            self._run, True, sql, parameters, self._conn.take_begin())
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def close(self) -> None:
        self._rows = []


class OneHopConnection(aiosqlite.Connection):
    """aiosqlite's connection (its own thread) with OneHopCursor cursors, and a BEGIN that is sent with the
    transaction's first statement instead of on a trip of its own (a one-query read: 2 trips, not 3)."""

    pending_begin: str | None = None  # the BEGIN asked for and not sent yet

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    def take_begin(self) -> str | None:
        begin, self.pending_begin = self.pending_begin, None
        return begin

    async def commit(self) -> None:
        if self.take_begin() is None:  # else no statement ran: there is no transaction to end
            await super().commit()

    async def rollback(self) -> None:
        if self.take_begin() is None:
            await super().rollback()


def _one_hop_creator(database: str, kwargs: Mapping[str, Any]) -> Any:
    """SQLAlchemy's async_creator: an unstarted OneHopConnection (awaiting it connects)."""

    async def create() -> OneHopConnection:
        conn = OneHopConnection(lambda: sqlite3.connect(database, **kwargs), iter_chunk_size=64)
        conn._thread.daemon = True  # as SQLAlchemy does for aiosqlite: never block interpreter exit
        await conn  # connects on the connection's own thread; the object awaited is the one returned
        return conn

    return create


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
        driver = conn.connection.driver_connection
        if isinstance(driver, OneHopConnection):
            driver.pending_begin = begin  # sent with the first statement
        else:
            conn.exec_driver_sql(begin)

    @event.listens_for(engine.sync_engine.pool, "reset")
    def on_reset(dbapi_conn: Any, _record: Any, state: Any) -> None:
        # Roll back only a transaction still open: after a COMMIT the pool's default rollback-on-return
        # was one more trip to the connection's thread for nothing (two of the nine of a simple GET).
        driver = getattr(dbapi_conn, "_connection", None)
        if isinstance(driver, OneHopConnection):
            driver.pending_begin = None  # a transaction that never ran a statement leaves nothing behind
        if state.asyncio_safe and not state.terminate_only and _in_transaction(dbapi_conn):
            dbapi_conn.rollback()


def _in_transaction(dbapi_conn: Any) -> bool:
    """Whether the sqlite3 connection behind SQLAlchemy's adapter has a transaction open (True if unsure)."""
    raw = getattr(getattr(dbapi_conn, "_connection", None), "_connection", None)
    return True if raw is None else bool(raw.in_transaction)


def make_engine(url: str, *, write: bool = True, connect_args: dict[str, Any] | None = None) -> AsyncEngine:
    """Create an engine; for SQLite, writers BEGIN IMMEDIATE and share one connection."""
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if write:
            # One writer connection: SQLite allows one writer anyway, and waiting in the
            # pool queue is async, whereas waiting on the file lock is not.
            kwargs: dict[str, Any] = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 60}
        else:
            # A fixed set of readers, never overflow: an overflow connection is a new thread, a new sqlite3
            # connection and its PRAGMAs, closed again after one request (measured: most of a GET's CPU under
            # 16 concurrent requests). More readers would not run faster anyway: they share the GIL.
            kwargs = {"pool_size": READ_CONNECTIONS, "max_overflow": 0, "pool_timeout": 60}
        # The same arguments SQLAlchemy would give aiosqlite.connect(), for our own connection class.
        cargs, cparams = create_async_engine(url).sync_engine.dialect.create_connect_args(make_url(url))
        engine = create_async_engine(url, async_creator=_one_hop_creator(cargs[0], cparams),
                                     pool_reset_on_return=None, **kwargs)  # on_reset rolls back when needed
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
            session.info[OPENED_AT] = time.monotonic()
            session.info[WRITING] = True
            async with session.begin():
                yield session

    @contextlib.asynccontextmanager
    async def write_connection(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction on a Core connection, without the ORM session (for statements that need no unit
        of work: a third less CPU per transaction). Commits on success, rolls back on error."""
        async with self.write_engine.begin() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Open a read-only transaction (deferred BEGIN on SQLite, so readers never wait for writers)."""
        async with self._read() as session:
            session.info[OPENED_AT] = time.monotonic()
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
