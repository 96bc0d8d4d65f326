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
        assert version == "0004"
        for table in Base.metadata.tables:
            assert await s.scalar(select(func.count()).select_from(Base.metadata.tables[table])) == 0


async def test_migrations_are_idempotent(db: Database):
    async with db.write() as s:
        s.add(Project(name="kept"))
    await asyncio.to_thread(run_migrations_blocking, db.url, db.connect_args)
    async with db.read() as s:
        assert await s.scalar(text("SELECT version_num FROM alembic_version")) == "0004"
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


async def test_queued_replies_claim_their_chat_in_the_order_they_were_sent(db: Database):
    """storage.chats: a chat goes to the earliest reply still waiting, whichever process queued it — a
    hand-over to a later one frees the chat instead, and a later one's claim fails until the earlier ended."""
    from sqlalchemy import update

    from storage import chats
    from storage.models import ChatMessage, ChatSession, User

    async with db.write() as s:
        user = User(username="q", username_key="q", email="q@example.com", password_hash="x")
        s.add(user)
        await s.flush()
        chat_id = (await chats.create_session(s, owner_id=user.id)).id
        first, second, third = new_id(), new_id(), new_id()
        assert await chats.claim_run(s, chat_id, first, "a", 30)
        for run_id in (first, second, third):
            await chats.add_exchange(s, chat_id, "hi", user.id, run_id, None)
        assert not await chats.claim_run(s, chat_id, second, "b", 30)  # held by the first

    async def end(run_id: str) -> None:
        await s.execute(update(ChatMessage).where(ChatMessage.run_id == run_id).values(status="complete"))

    async with db.write() as s:  # process a queued the third: it may not jump the second (process b's)
        await end(first)
        assert not await chats.release_run(s, chat_id, first, next_run_id=third, owner="a", lease_s=30)
        assert (await s.get(ChatSession, chat_id)).run_id is None  # freed for the one first in line
        assert not await chats.claim_run(s, chat_id, third, "a", 30)
        assert await chats.claim_run(s, chat_id, second, "b", 30)
    async with db.write() as s:
        await end(second)
        assert not await chats.claim_run(s, chat_id, new_id(), "c", 30)  # a new message waits behind the third
        assert await chats.release_run(s, chat_id, second, next_run_id=third, owner="b", lease_s=30)
        assert (await s.get(ChatSession, chat_id)).run_owner == "b"


async def test_run_leases_claim_once_and_sweep_only_what_is_abandoned(db: Database):
    """storage.chats run leases: one claim per chat until released or expired; the sweep interrupts the reply
    of an expired lease and old replies in chats free for a while, and nothing a live process holds."""
    import datetime as dt

    from sqlalchemy import update

    from storage import chats
    from storage.models import ChatSession, User, utcnow

    async with db.write() as s:
        user = User(username="u", username_key="u", email="u@example.com", password_hash="x")
        s.add(user)
        await s.flush()
        ids = [(await chats.create_session(s, owner_id=user.id)).id for _ in range(5)]
    expired, live, long_free, just_free, mine = ids
    replies = {}
    async with db.write() as s:
        for chat_id in ids:
            run_id = new_id()
            _u, reply = await chats.add_exchange(s, chat_id, "hi", user.id, run_id, None)
            replies[chat_id] = reply["run_id"]
        assert await chats.claim_run(s, expired, replies[expired], "gone", 30)
        assert await chats.claim_run(s, live, replies[live], "alive", 30)
        assert not await chats.claim_run(s, live, new_id(), "other", 30)  # held: a second run cannot take it
        assert await chats.claim_run(s, mine, replies[mine], "me", 30)
        assert await chats.claim_run(s, just_free, replies[just_free], "alive", 30)
        assert await chats.release_run(s, just_free, (await s.get(ChatSession, just_free)).run_id)
        an_hour_ago = utcnow() - dt.timedelta(hours=1)
        await s.execute(update(ChatSession).where(ChatSession.id.in_([expired, mine]))
                        .values(run_lease_until=an_hour_ago))
        await s.execute(update(ChatSession).where(ChatSession.id == long_free).values(run_lease_until=an_hour_ago))
        from storage.models import ChatMessage
        await s.execute(update(ChatMessage).values(created_at=an_hour_ago))  # every reply is old
    async with db.write() as s:
        swept = await chats.interrupt_abandoned(s, grace_s=60, keep_runs={replies[mine]})
    assert sorted(m.session_id for m in swept) == sorted([expired, long_free])
    async with db.read() as s:
        rows = {c.id: c for c in (await s.scalars(select(ChatSession))).all()}
    assert rows[expired].run_id is None and rows[live].run_owner == "alive" and rows[mine].run_owner == "me"
    async with db.read() as s:  # the per-user reply limit counts other processes' live runs of the user
        assert await chats.active_runs_started_by(s, user.id, other_than="me") == 1  # live; mine's lease expired
        assert await chats.active_runs_started_by(s, user.id, other_than="alive") == 0
        assert await chats.active_runs_started_by(s, new_id(), other_than="me") == 0
    async with db.write() as s:  # a freed chat can be claimed again; an expired lease only once its reply ended
        assert await chats.claim_run(s, expired, new_id(), "alive", 30)
        assert not await chats.claim_run(s, mine, new_id(), "alive", 30)  # its reply still streams
        await s.execute(update(ChatMessage).where(ChatMessage.run_id == replies[mine]).values(status="interrupted"))
        assert await chats.claim_run(s, mine, new_id(), "alive", 30)
        assert await chats.renew_runs(s, "alive", [rows[live].run_id], 30) == 1


async def test_a_script_stores_and_reads_what_sqlalchemy_does_and_is_one_transaction(db: Database):
    """storage.scripts: a send and a reply's end run as scripts (on SQLite on the writer's thread, with our own
    compiled statements) store rows the ORM reads back exactly — timestamps, JSON, versions — give back
    what they stored, roll back entirely when a step fails, and raise SQLAlchemy's IntegrityError on every
    backend."""
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from storage import chats
    from storage.models import ChatMessage, ChatSession, User
    from storage.scripts import run_script

    async with db.write() as s:
        user = User(username="sc", username_key="sc", email="sc@example.com", password_hash="x")
        s.add(user)
        await s.flush()
        chat_id = (await chats.create_session(s, owner_id=user.id)).id
    run_id = new_id()

    def send(client_msg_id: str | None, run: str = run_id, **kw) -> chats.Script[chats.Sent]:
        options = {"claim": True, "reject_if_busy": True, "owner": "me", "lease_s": 30, "runs_of_user": 0,
                   "max_runs": 8, "count_elsewhere": True, **kw}
        return chats.send_steps(chat_id, "# Plan the *release*\nmore", user.id, run, client_msg_id, **options)

    sent = await run_script(db, send("c1"))
    assert sent.claimed and sent.history == [{"role": "user", "content": "# Plan the *release*\nmore"}]
    assert sent.renamed is not None and sent.renamed["title"] == "Plan the release"
    with pytest.raises(chats.ChatBusy):  # the chat is held: nothing of this second send is stored
        await run_script(db, send("c2", new_id()))
    with pytest.raises(IntegrityError):  # the same client_msg_id again (the chat's claim let go first)
        await run_script(db, send("c1", new_id(), claim=False))
    with pytest.raises(chats.RunQuotaReached):
        await run_script(db, send("c3", new_id(), claim=False, runs_of_user=8))
    with pytest.raises(chats.NotAllowed):  # no project role, no chat.use: refused before anything is written
        await run_script(db, send("c4", new_id(), claim=False, recheck=chats.Recheck(permission="chat.use")))
    stored, handed = await run_script(db, chats.finish_steps(
        chat_id, sent.reply["id"], run_id, lock=not db.sqlite, content="Done.", status="complete", error=None,
        tool_calls=[{"name": "list", "args": {"n": 1}, "ok": True}], cancelled_by=None, owner="me", lease_s=30,
        next_run_id=None))
    assert not handed and stored is not None
    async with db.read() as s:
        rows = (await s.scalars(select(ChatMessage).where(ChatMessage.session_id == chat_id)
                                .order_by(ChatMessage.seq))).all()
        chat = await s.get(ChatSession, chat_id)
    assert [(m.seq, m.role, m.status, m.client_msg_id) for m in rows] == [
        (1, "user", "complete", "c1"), (2, "assistant", "complete", None)]
    user_row, reply_row = rows
    assert user_row.created_at == sent.user["created_at"] and user_row.created_at.tzinfo is not None
    assert reply_row.created_at > user_row.created_at  # clients order by time: the reply comes after
    assert reply_row.tool_calls == stored["tool_calls"] == [{"name": "list", "args": {"n": 1}, "ok": True}]
    assert (reply_row.version, reply_row.content, reply_row.updated_at) == (
        stored["version"], "Done.", stored["updated_at"]) and reply_row.version == 2
    assert chat.title == "Plan the release" and chat.run_id is None and chat.version == 2
    async with db.write() as s:  # a later reply of the same chat: the history holds the finished exchange
        await s.execute(update(ChatSession).where(ChatSession.id == chat_id).values(title="Kept"))
    again = await run_script(db, send("c5", new_id()))
    assert again.claimed and again.renamed is None and [m["content"] for m in again.history or []] == [
        "# Plan the *release*\nmore", "Done.", "# Plan the *release*\nmore"]


def test_a_statement_that_needs_sqlalchemys_execution_context_is_refused_by_scripts():
    """An `onupdate` default computed in Python (updated_at) would be silently missing from a script's own
    execution on SQLite: such a statement is refused when first prepared, not run without it."""
    from sqlalchemy import update
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.models import ChatSession
    from storage.scripts import _prepare

    dialect = create_async_engine("sqlite+aiosqlite://").sync_engine.dialect
    with pytest.raises(ValueError, match="execution context"):
        _prepare(update(ChatSession).values(title="x"), dialect)
