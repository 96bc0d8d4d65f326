"""storage/db.py's one-trip SQLite cursor leans on aiosqlite internals (`Connection._execute`, `._conn`,
`._thread`). aiosqlite is pinned to the tested minor release; when someone lifts the pin, this test says
exactly what changed, instead of odd failures deep inside SQLAlchemy."""

from __future__ import annotations

import inspect
import sqlite3
import threading
from pathlib import Path

import aiosqlite

from storage.db import OneHopConnection, OneHopCursor, _one_hop_creator


def test_aiosqlite_keeps_the_internals_the_one_trip_cursor_uses():
    execute = getattr(aiosqlite.Connection, "_execute", None)
    assert inspect.iscoroutinefunction(execute), (
        f"aiosqlite {aiosqlite.__version__} has no coroutine Connection._execute(fn, *args): adapt OneHopCursor "
        "in storage/db.py (or keep the aiosqlite pin in setup.cfg)")
    params = list(inspect.signature(execute).parameters)
    assert params[:2] == ["self", "fn"], f"Connection._execute takes {params} now: adapt OneHopCursor"


async def test_the_one_trip_cursor_runs_statements_on_the_connection_thread(tmp_path: Path):
    conn = await _one_hop_creator(str(tmp_path / "adapter.db"), {})()
    try:
        assert isinstance(conn, OneHopConnection)
        assert isinstance(conn._conn, sqlite3.Connection) and isinstance(conn._thread, threading.Thread)
        cursor = conn.cursor()
        assert isinstance(cursor, OneHopCursor)
        await cursor.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        await cursor.executemany("INSERT INTO t (name) VALUES (?)", [("a",), ("b",), ("c",)])
        assert cursor.rowcount == 3
        await cursor.execute("SELECT name FROM t ORDER BY id")
        assert [d[0] for d in cursor.description] == ["name"]
        assert await cursor.fetchone() == ("a",)
        assert await cursor.fetchmany(5) == [("b",), ("c",)]
        assert await cursor.fetchall() == []
    finally:
        await conn.close()


async def test_begin_rides_with_the_first_statement_and_an_empty_transaction_costs_no_trip(tmp_path: Path,
                                                                                         monkeypatch):
    from sqlalchemy import text

    from storage.db import Database

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'trips.db'}")
    try:
        async with db.write() as s:
            await s.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"))
            await s.execute(text("INSERT INTO t (name) VALUES ('a')"))
        async with db.read() as s:  # the read pool's connection exists (connecting makes trips of its own)
            await s.execute(text("SELECT 1"))
        trips: list[str] = []
        real = aiosqlite.Connection._execute

        async def counted(self, fn, *args, **kw):
            trips.append(getattr(fn, "__name__", repr(fn)))
            return await real(self, fn, *args, **kw)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        async with db.read() as s:
            assert (await s.execute(text("SELECT name FROM t"))).scalar_one() == "a"
        assert trips == ["_run", "commit"]  # BEGIN went with the SELECT
        trips.clear()
        async with db.read():
            pass
        assert trips == []  # nothing ran: no BEGIN was sent, nothing to commit
        async with db.write() as s:  # a write still holds the lock from its first statement to its commit
            await s.execute(text("INSERT INTO t (name) VALUES ('b')"))
            raw = (await (await s.connection()).get_raw_connection()).driver_connection._conn
            assert raw.in_transaction
        async with db.read() as s:
            assert (await s.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
    finally:
        await db.close()
