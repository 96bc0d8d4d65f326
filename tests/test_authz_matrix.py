"""The authorization matrix: every route x {anon, non-member, viewer, editor, owner, admin} -> expected status.

Generated from the app's route table: a route without a Case in tests/authz_cases/ fails the suite, and
so does a Case for a route that no longer exists.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from typing import Any

import pytest
from aiohttp import FormData

import tests.authz_cases as cases_pkg
from chatsvc import keys
from chatsvc.openapi import iter_endpoints
from tests.authz_cases import CALLERS, Case
from tests.authz_world import World, build_world
from tests.helpers import call

SAFE = {"GET", "HEAD", "OPTIONS"}


def all_cases() -> list[Case]:
    found: list[Case] = []
    for info in pkgutil.iter_modules(cases_pkg.__path__):
        module = importlib.import_module(f"tests.authz_cases.{info.name}")
        found.extend(getattr(module, "CASES", []))
    return found


def _fill(value: Any, fields: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**fields)
    if isinstance(value, dict):
        return {k: _fill(v, fields) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, fields) for v in value]
    return value


async def run_case(client: Any, world: World, case: Case, caller: str) -> int:
    fields = world.fields()
    user = world.callers[caller]
    headers = user.headers if user else {}
    url = case.url.format(**fields)
    kwargs: dict[str, Any] = {}
    if case.multipart:
        form = FormData()
        form.add_field("file", b"hello", filename="hello.txt", content_type="text/plain")
        kwargs["data"] = form
    elif case.form is not None:
        kwargs["data"] = _fill(case.form, fields)
    elif case.body is not None or case.method not in SAFE:
        kwargs["json"] = _fill(case.body if case.body is not None else {}, fields)
    resp = await call(client, case.method, url, headers=headers, **kwargs)
    return resp.status


async def test_every_route_has_a_case(client):
    registered = {(m, p) for m, p, _v, _e in iter_endpoints(client.app)}
    covered = {(c.method, c.route) for c in all_cases()}
    assert not registered - covered, f"routes without an authorization case: {sorted(registered - covered)}"
    assert not covered - registered, f"cases for routes that do not exist: {sorted(covered - registered)}"


def _snapshot_sync(path: str) -> dict[str, list[str]]:
    import sqlite3

    from storage.models import Base

    conn = sqlite3.connect(path)
    try:
        return {table: sorted(map(repr, conn.execute(f"SELECT * FROM {table}").fetchall()))
                for table in sorted(Base.metadata.tables) if table != "auth_sessions"}
    finally:
        conn.close()


async def quiesce(client: Any, timeout: float = 60) -> None:
    """Wait until the chat runs and tasks that earlier (allowed) calls started have finished writing: they
    change the database on their own, and a refusal is judged by comparing snapshots around it."""
    runs, tasks = client.app[keys.RUNS], client.app[keys.TASKS]
    deadline = asyncio.get_running_loop().time() + timeout
    while runs.by_run or len(runs.background) or tasks.running:
        assert asyncio.get_running_loop().time() < deadline, "runs or tasks did not finish"
        await asyncio.sleep(0.02)


async def db_snapshot(client: Any) -> dict[str, list[str]]:
    """Every row of every table (but auth_sessions, whose last_seen_at reads refresh on purpose).

    Read in a thread with its own connection: materialising a growing database is heavy work that must
    not run on the loop the guard watches.
    """
    await quiesce(client)
    settings = client.app[keys.SETTINGS]
    return await asyncio.to_thread(_snapshot_sync, str(settings.data_dir / "chatsvc.db"))


@pytest.mark.timeout(900)  # hundreds of calls: 40 s on a quiet machine, several times that on a loaded one
async def test_authorization_matrix(client, settings):
    """Every route x caller. Reads share one World. A call expected to succeed gets a fresh World; calls
    expected to be refused share one World per case, and each refusal must leave the database unchanged."""
    failures: list[str] = []
    shared = await build_world(client, settings)
    for case in sorted(all_cases(), key=lambda c: (c.route, c.method)):
        refused_world = None
        for caller in CALLERS:
            want = case.expect[caller]
            if case.method in SAFE:
                world = shared
            elif want >= 400:
                refused_world = refused_world or await build_world(client, settings)
                world = refused_world
            else:
                world = await build_world(client, settings)
            before = await db_snapshot(client) if case.method not in SAFE and want >= 400 else None
            got = await run_case(client, world, case, caller)
            if got != want:
                failures.append(f"{case.method} {case.route} as {caller}: expected {want}, got {got}")
            elif before is not None and await db_snapshot(client) != before:
                failures.append(f"{case.method} {case.route} as {caller}: refused ({got}) but changed the database")
    assert not failures, "\n".join(failures)


async def test_reads_never_change_anything(client, settings):
    """GET on every route, as the owner, leaves the database exactly as it was."""
    world = await build_world(client, settings)
    before = await db_snapshot(client)
    for case in all_cases():
        if case.method == "GET":
            await run_case(client, world, case, "owner")
    assert await db_snapshot(client) == before
