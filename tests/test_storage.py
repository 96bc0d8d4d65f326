"""The storage layer itself, on SQLite and on PostgreSQL: migrations, pragmas, concurrent writers, versions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from chatsvc.permissions import BUILTIN_ROLES
from storage import rbac, users
from storage.db import Database
from storage.migrate import run_migrations_blocking
from storage.models import Project, new_id


async def test_migrations_create_every_table(db: Database):
    from storage.models import Base

    async with db.read() as s:
        version = await s.scalar(text("SELECT version_num FROM alembic_version"))
        assert version == "0001"
        for table in Base.metadata.tables:
            assert await s.scalar(select(func.count()).select_from(Base.metadata.tables[table])) == 0


async def test_migrations_are_idempotent(db: Database):
    async with db.write() as s:
        s.add(Project(name="kept"))
    await asyncio.to_thread(run_migrations_blocking, db.url, db.connect_args)
    async with db.read() as s:
        assert await s.scalar(text("SELECT version_num FROM alembic_version")) == "0001"
        assert await s.scalar(select(Project.name)) == "kept"


async def test_sqlite_connection_pragmas(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    await asyncio.to_thread(run_migrations_blocking, url)
    database = Database(url)
    try:
        for opener in (database.read, database.write):
            async with opener() as s:
                assert (await s.scalar(text("PRAGMA journal_mode"))) == "wal"
                assert (await s.scalar(text("PRAGMA foreign_keys"))) == 1
                assert (await s.scalar(text("PRAGMA busy_timeout"))) == 5000
                assert (await s.scalar(text("PRAGMA synchronous"))) == 1  # NORMAL
    finally:
        await database.close()


async def test_concurrent_read_then_write_transactions_never_lock(db: Database):
    """32 writers each read a row then update it: BEGIN IMMEDIATE (SQLite) / row locks (PostgreSQL) serialise them."""
    async with db.write() as s:
        project = Project(name="counter", description="0")
        s.add(project)
    pid = project.id

    async def bump(times: int) -> None:
        for _ in range(times):
            async with db.write() as s:
                row = await s.get(Project, pid, with_for_update=True)
                assert row is not None
                row.description = str(int(row.description) + 1)

    await asyncio.gather(*(bump(10) for _ in range(32)))
    async with db.read() as s:
        row = await s.get(Project, pid)
        assert row is not None
        assert row.description == "320"
        assert row.version == 321  # the ORM bumps version on every UPDATE


async def test_rolled_back_transaction_leaves_nothing(db: Database):
    with pytest.raises(RuntimeError):
        async with db.write() as s:
            s.add(Project(name="ghost"))
            await s.flush()
            raise RuntimeError("abort")
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(Project)) == 0


async def test_builtin_roles_and_user_permissions(db: Database):
    async with db.write() as s:
        await rbac.ensure_builtin_roles(s, BUILTIN_ROLES)
        await rbac.ensure_builtin_roles(s, BUILTIN_ROLES)  # idempotent
        user = await users.create(s, email="A@Example.com", username="Alice", password_hash="x")
        member = await rbac.by_name(s, "member")
        assert member is not None
        await rbac.assign(s, user.id, member.id)
    async with db.read() as s:
        assert (await users.by_login(s, "alice")) is not None
        assert (await users.by_login(s, "a@example.com")) is not None
        assert await rbac.user_permissions(s, user.id) == set(BUILTIN_ROLES["member"][1])


async def test_timestamps_are_utc_aware(db: Database):
    async with db.write() as s:
        project = Project(name="t")
        s.add(project)
    async with db.read() as s:
        row = await s.get(Project, project.id)
        assert row is not None and row.created_at.utcoffset().total_seconds() == 0


def test_ids_are_time_ordered_and_unique():
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)  # millisecond prefix never goes back


def test_temp_sweep_removes_only_old_leftovers(tmp_path: Path):
    import os
    import time

    from storage.blobs import BlobStore

    store = BlobStore(tmp_path / "blobs")
    old, old_path = store.open_temp()
    old.close()
    young, young_path = store.open_temp()
    young.close()
    two_hours_ago = time.time() - 7200
    os.utime(old_path, (two_hours_ago, two_hours_ago))
    assert store.sweep_temp() == 1
    assert not old_path.exists() and young_path.exists()  # another process may still be writing it


async def test_grouped_artifact_insert_writes_only_what_each_creator_may(db: Database):
    """storage.artifacts.create_if_allowed: one statement for many creates; each row carries its own check."""
    from storage import artifacts
    from storage.models import DocumentVersion, ProjectMember, User

    def user(name: str) -> User:
        return User(username=name, username_key=name, email=f"{name}@example.com", password_hash="x")

    async with db.write() as s:
        owner, editor, viewer, stranger, root = (user(n) for n in ("owner", "editor", "viewer", "stranger", "root"))
        here, there = Project(name="here"), Project(name="there")
        s.add_all([owner, editor, viewer, stranger, root, here, there])
        await s.flush()
        s.add_all([ProjectMember(project_id=here.id, user_id=owner.id, role="owner"),
                   ProjectMember(project_id=here.id, user_id=editor.id, role="editor"),
                   ProjectMember(project_id=here.id, user_id=viewer.id, role="viewer")])
        version = DocumentVersion(project_id=here.id, number=1, title="Spec", content="REQ-1: x")
        foreign = DocumentVersion(project_id=there.id, number=1, title="Spec", content="REQ-1: x")
        s.add_all([version, foreign])

    def item(creator: User, project: str = here.id, superuser: bool = False, version_id: str | None = None) -> dict:
        return artifacts.new_artifact(project_id=project, type="note", name="n", content={"by": creator.username},
                                      created_by=creator.id, superuser=superuser, document_version_id=version_id)

    cases = [
        (item(owner), True), (item(editor, version_id=version.id), True), (item(viewer), False),
        (item(stranger), False), (item(root, superuser=True), True), (item(root, project=new_id(), superuser=True),
                                                                       False),
        (item(owner, version_id=foreign.id), False), (item(owner, version_id=new_id()), False),
        (item(editor, project=there.id), False),
    ]
    async with db.write_connection() as conn:
        rows = await artifacts.create_if_allowed(conn, [case for case, _ in cases])
    assert [row is not None for row in rows] == [allowed for _, allowed in cases]
    async with db.read() as s:
        stored = {a.id: a for a in (await artifacts.list_artifacts(s, limit=100, offset=0, all_projects=True))[0]}
    assert set(stored) == {row["id"] for row in rows if row is not None}
    for row in rows:
        if row is not None:  # what the caller is told is what was stored
            a = stored[row["id"]]
            assert (a.project_id, a.content, a.created_by, a.document_version_id, a.created_at, a.version) == (
                row["project_id"], row["content"], row["created_by"], row["document_version_id"],
                row["created_at"], row["version"])
