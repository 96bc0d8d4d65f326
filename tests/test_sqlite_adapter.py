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
