"""Write transactions as scripts: on SQLite, a whole transaction in ONE trip to the writer's thread.

A chat reply's writes (its send: claim the chat, touch it, read the last seq, insert two messages, read the
agent's history; its end: store the text, free the chat) were a dozen statements through SQLAlchemy and
aiosqlite, each a trip to the connection's thread and back plus SQLAlchemy's execution machinery on the
event loop (py-spy: a third of the server's GIL time in the short-reply mix). A script states the same
transaction once, as a generator that yields `Step`s (a prebuilt Core statement and its parameters) and gets
each step's `Rows` back:

- on SQLite it runs on the writer connection's own thread, statement after statement on the raw sqlite3
  connection (BEGIN IMMEDIATE … COMMIT), so the event loop pays for one trip. Each statement is compiled once
  with the engine's dialect and its parameters and results go through the same type processors SQLAlchemy
  would apply, so what is stored and read back is the same;
- elsewhere (PostgreSQL) the same generator runs on the event loop, each step awaited through SQLAlchemy.

A script's own Python between statements must stay small (a few dicts): on SQLite it runs beside the loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import greenlet_spawn

from storage.db import Database, OneHopConnection

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Step:
    """One statement of a script: a Core statement built once (module level) and its parameters (a list of
    parameter sets runs it once per set, as executemany)."""

    statement: Any
    params: dict[str, Any] | list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Rows:
    """What a step gave back: its rows (as tuples, in the statement's column order) and rowcount."""

    keys: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    rowcount: int

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def first_mapping(self) -> dict[str, Any] | None:
        return dict(zip(self.keys, self.rows[0], strict=True)) if self.rows else None


Script = Generator[Step, Rows, T]


async def run_script(db: Database, script: Script[T]) -> T:
    """Run a script as one write transaction (committed when it returns, rolled back when it raises)."""
    if db.sqlite:
        # The pool's one writer connection, without a SQLAlchemy Connection around it (a third of a script's
        # CPU on the loop was that object's checkout and close).
        raw = await db.write_engine.raw_connection()
        try:
            driver = raw.driver_connection
            assert isinstance(driver, OneHopConnection)
            on_thread: T = await driver._execute(  # type: ignore[no-untyped-call]
                _run_on_sqlite_thread, driver._conn, script, db.write_engine.dialect)
            return on_thread
        except sqlite3.IntegrityError as exc:  # as SQLAlchemy raises it on every backend
            raise IntegrityError("script", None, exc) from exc
        except sqlite3.OperationalError as exc:
            raise OperationalError("script", None, exc) from exc
        finally:
            await greenlet_spawn(raw.close)  # back to the pool (nothing to roll back: the script ended it)
    async with db.write_engine.begin() as conn:
        return await drive(conn, script)


async def drive(conn: AsyncConnection, script: Script[T]) -> T:
    """Run a script's steps on a connection whose transaction someone else holds (a session's, a test's)."""
    result: Any = None
    while True:
        try:
            step = script.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        out = await conn.execute(step.statement, step.params)
        rows = [tuple(row) for row in out] if out.returns_rows else []
        result = Rows(tuple(out.keys()) if out.returns_rows else (), rows, out.rowcount)


# --- SQLite: the script on the writer connection's thread -------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Prepared:
    """A statement compiled for SQLite once: its SQL, how to order and convert its parameters, and how to
    convert its result columns (each `None` where the type needs no conversion)."""

    sql: str
    compiled: SQLCompiler
    order: tuple[str, ...]
    binds: tuple[Callable[[Any], Any] | None, ...]
    keys: tuple[str, ...]
    results: tuple[Callable[[Any], Any] | None, ...]

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...]:
        params = self.compiled.construct_params(values)  # with the values bound in the statement itself
        return tuple(params[name] if convert is None else convert(params[name])
                     for name, convert in zip(self.order, self.binds, strict=True))

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(value if convert is None else convert(value)
                     for value, convert in zip(raw, self.results, strict=True))


# By id() of the statement, which the entry keeps alive (so its id is never another statement's). Scripts use
# statements built once at module level: a handful of entries.
_prepared: dict[int, tuple[Any, _Prepared]] = {}


def _prepare(statement: Any, dialect: Any) -> _Prepared:
    cached = _prepared.get(id(statement))
    if cached is not None and cached[0] is statement:
        return cached[1]
    compiled = statement.compile(dialect=dialect)
    # Column defaults computed in Python at execution (an `onupdate=utcnow` left to SQLAlchemy) would be
    # missing here: a script's statements set every such column themselves.
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.post_compile_params:
        raise ValueError(f"statement needs SQLAlchemy's execution context, not a script: {compiled}")
    processors = compiled._bind_processors
    order = tuple(compiled.positiontup or ())
    columns = list(statement.exported_columns)  # a SELECT's columns, an UPDATE's RETURNING (or none)
    results = tuple(column.type._cached_result_processor(dialect, None) for column in columns)
    keys = tuple(str(column.key) for column in columns)
    prepared = _Prepared(str(compiled), compiled, order, tuple(processors.get(name) for name in order), keys,
                         results)
    _prepared[id(statement)] = (statement, prepared)
    return prepared


def _run_on_sqlite_thread(raw: sqlite3.Connection, script: Script[T], dialect: Any) -> T:
    raw.execute("BEGIN IMMEDIATE")
    try:
        result: Any = None
        while True:
            try:
                step = script.send(result)
            except StopIteration as stop:
                value: T = stop.value
                break
            prepared = _prepare(step.statement, dialect)
            cursor = raw.cursor()
            try:
                if isinstance(step.params, list):
                    cursor.executemany(prepared.sql, [prepared.parameters(p) for p in step.params])
                else:
                    cursor.execute(prepared.sql, prepared.parameters(step.params))
                rows = [prepared.row(row) for row in cursor.fetchall()] if cursor.description else []
                result = Rows(prepared.keys, rows, cursor.rowcount)
            finally:
                cursor.close()
    except BaseException:
        raw.rollback()
        raise
    raw.commit()
    return value
