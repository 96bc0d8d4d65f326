"""Chat sessions and their messages: the repository the chat handlers and the agent runs share.

Every write to a session's messages first locks the session row (`lock_session`): on PostgreSQL that is
`SELECT ... FOR UPDATE`, on SQLite the write transaction already holds the database (BEGIN IMMEDIATE).
So message sequence numbers never collide and versioned rows are never updated from a stale read.
Functions take the caller's AsyncSession and never commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChatMessage, ChatSession, ProjectMember, RolePermission, UserRole, new_id, utcnow
from storage.scripts import Script, Step, drive

DEFAULT_TITLE = "New chat"
TITLE_FROM_MESSAGE_MAX = 60  # a chat still called DEFAULT_TITLE is named after its first message, this long


# --- sessions --------------------------------------------------------------------------------

async def create_session(
    session: AsyncSession, *, owner_id: str, project_id: str | None = None, title: str | None = None
) -> ChatSession:
    """Create a personal (no project) or project chat session."""
    chat = ChatSession(owner_id=owner_id, project_id=project_id, title=title or DEFAULT_TITLE,
                       last_activity_at=utcnow())
    session.add(chat)
    await session.flush()
    return chat


async def get_session(session: AsyncSession, chat_id: str) -> ChatSession | None:
    """Return a chat session by id, or None."""
    return await session.get(ChatSession, chat_id)


@dataclass(frozen=True)
class ChatHead:
    """What authorizing a message in a chat and routing its events need of the chat: no ORM object."""

    id: str
    project_id: str | None
    owner_id: str | None
    title: str


_CHAT_HEAD = (select(ChatSession.id, ChatSession.project_id, ChatSession.owner_id, ChatSession.title)
              .where(ChatSession.id == bindparam("chat_id")))


async def chat_head(session: AsyncSession, chat_id: str) -> ChatHead | None:
    """A chat's id, project, owner and title (a Core read: every message sent reads it), or None."""
    row = (await (await session.connection()).execute(_CHAT_HEAD, {"chat_id": chat_id})).first()
    return ChatHead(*row) if row is not None else None


# The statements of a reply's life (send, start, end) are built once with bound parameters: building a
# SQLAlchemy statement and its cache key cost more CPU than running it (streaming profile: ~40 % of a send).
_LOCK_SESSION = (select(ChatSession).where(ChatSession.id == bindparam("chat_id")).with_for_update()
                 .execution_options(populate_existing=True))
_LAST_SEQ = select(func.max(ChatMessage.seq)).where(ChatMessage.session_id == bindparam("chat_id"))


async def lock_session(session: AsyncSession, chat_id: str) -> ChatSession | None:
    """Lock a chat session row for this transaction and refresh it; None when it is gone."""
    return await session.scalar(_LOCK_SESSION, {"chat_id": chat_id})


async def list_sessions(
    session: AsyncSession, *, user_id: str, project_ids: list[str] | None, project_id: str | None = None,
    limit: int = 50, offset: int = 0,
) -> tuple[list[ChatSession], int]:
    """List sessions, most recent activity first: one project's, or the user's own plus their projects'.

    `project_ids` are the projects the user belongs to; None means every project (a superuser).
    """
    if project_id is not None:
        cond: Any = ChatSession.project_id == project_id
    else:
        own = and_(ChatSession.project_id.is_(None), ChatSession.owner_id == user_id)
        if project_ids is None:
            cond = or_(own, ChatSession.project_id.is_not(None))
        elif project_ids:
            cond = or_(own, ChatSession.project_id.in_(project_ids))
        else:
            cond = own
    total = await session.scalar(select(func.count()).select_from(ChatSession).where(cond))
    rows = await session.scalars(
        select(ChatSession).where(cond)
        .order_by(ChatSession.last_activity_at.desc(), ChatSession.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


async def delete_session(session: AsyncSession, chat_id: str) -> None:
    """Delete a chat session; its messages go with it (ON DELETE CASCADE)."""
    await session.execute(delete(ChatMessage).where(ChatMessage.session_id == chat_id))
    await session.execute(delete(ChatSession).where(ChatSession.id == chat_id))


def title_from(content: str) -> str:
    """A chat title from its first message: the first line with text, Markdown marks and spacing tidied,
    cut on a word boundary (with an ellipsis) to at most TITLE_FROM_MESSAGE_MAX characters."""
    line = next((ln for ln in content.splitlines() if ln.strip()), "")
    words = " ".join(line.replace("`", "").replace("*", "").lstrip("#>-+ \t").split())
    if len(words) <= TITLE_FROM_MESSAGE_MAX:
        return words or DEFAULT_TITLE
    cut = words[:TITLE_FROM_MESSAGE_MAX - 1]
    if " " in cut[TITLE_FROM_MESSAGE_MAX // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + "…"


def touch(chat: ChatSession) -> None:
    """Mark activity in a session now (orders the session list)."""
    chat.last_activity_at = utcnow()


# --- messages --------------------------------------------------------------------------------

async def add_message(
    session: AsyncSession, chat_id: str, role: str, content: str, author_id: str | None,
    client_msg_id: str | None = None, status: str = "complete", run_id: str | None = None,
) -> ChatMessage:
    """Append a message at the end of a session (seq = max + 1) and touch the session.

    Raises LookupError when the session does not exist.
    """
    chat = await lock_session(session, chat_id)
    if chat is None:
        raise LookupError(f"no chat session {chat_id}")
    last = await session.scalar(select(func.max(ChatMessage.seq)).where(ChatMessage.session_id == chat_id))
    message = ChatMessage(
        session_id=chat_id, seq=int(last or 0) + 1, role=role, content=content, status=status,
        author_id=author_id, run_id=run_id, client_msg_id=client_msg_id,
    )
    session.add(message)
    touch(chat)
    await session.flush()
    return message


CHAT_SESSIONS: Table = ChatSession.__table__  # type: ignore[assignment]  # a Table (declarative)
CHAT_MESSAGES: Table = ChatMessage.__table__  # type: ignore[assignment]
# A send's writes as Core statements, run as one script (storage.scripts): on SQLite the whole transaction is
# one trip to the writer's thread; through the Session, an ORM insert (unit of work, identity map) and
# ORM-enabled updates cost several times what the statements themselves do.
_TOUCH = (update(CHAT_SESSIONS).where(CHAT_SESSIONS.c.id == bindparam("p_chat"))
          .values(last_activity_at=bindparam("p_now"), updated_at=bindparam("p_now"),
                  version=CHAT_SESSIONS.c.version + 1)
          .returning(CHAT_SESSIONS.c.title))
_RENAME = (update(CHAT_SESSIONS).where(CHAT_SESSIONS.c.id == bindparam("p_chat"))
           .values(title=bindparam("p_title"), updated_at=bindparam("p_now")))
_SESSION_ROW = select(CHAT_SESSIONS).where(CHAT_SESSIONS.c.id == bindparam("p_chat"))
_LOCK_ROW = select(CHAT_SESSIONS.c.id).where(CHAT_SESSIONS.c.id == bindparam("p_chat")).with_for_update()
_EXCHANGE_FIELDS = ("id", "session_id", "seq", "role", "content", "status", "author_id", "run_id", "client_msg_id",
                    "created_at", "updated_at", "version")
_ADD_MESSAGE = insert(CHAT_MESSAGES).values({name: bindparam(name, type_=CHAT_MESSAGES.c[name].type)
                                             for name in _EXCHANGE_FIELDS})
_NOT_SET = {"tool_calls": None, "error": None, "edited_at": None, "cancelled_by": None}  # as a new row reads


def lock_row_step(chat_id: str) -> Step:
    """Lock a chat's row for the transaction (PostgreSQL's SELECT … FOR UPDATE; SQLite has no row locks)."""
    return Step(_LOCK_ROW, {"p_chat": chat_id})


def exchange_steps(chat_id: str, content: str, author_id: str, run_id: str, client_msg_id: str | None,
                   ) -> Script[tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]]:
    """Append a user message and its `streaming` reply placeholder; give back both rows' columns and, when
    this first message named the chat (it still had the default title), the chat's row. The chat is touched
    first (which locks its row on PostgreSQL; on SQLite the write transaction holds the database).

    Raises LookupError when the session does not exist.
    """
    now = utcnow()
    title = (yield Step(_TOUCH, {"p_chat": chat_id, "p_now": now})).scalar()
    if title is None:
        raise LookupError(f"no chat session {chat_id}")
    last = int((yield Step(_LAST_SEQ, {"chat_id": chat_id})).scalar() or 0)
    renamed = None
    if last == 0 and title == DEFAULT_TITLE:
        yield Step(_RENAME, {"p_chat": chat_id, "p_title": title_from(content), "p_now": now})
        renamed = (yield Step(_SESSION_ROW, {"p_chat": chat_id})).first_mapping()
    # Clients order messages by created_at (then id, which is random within a millisecond): the reply is later.
    later = max(utcnow(), now + dt.timedelta(microseconds=1))
    common = {"session_id": chat_id, "run_id": run_id, "version": 1}
    user = {**common, "id": new_id(), "seq": last + 1, "role": "user", "content": content, "status": "complete",
            "author_id": author_id, "client_msg_id": client_msg_id, "created_at": now, "updated_at": now}
    reply = {**common, "id": new_id(), "seq": last + 2, "role": "assistant", "content": "", "status": "streaming",
             "author_id": None, "client_msg_id": None, "created_at": later, "updated_at": later}
    yield Step(_ADD_MESSAGE, [user, reply])
    return {**user, **_NOT_SET}, {**reply, **_NOT_SET}, renamed


async def add_exchange(
    session: AsyncSession, chat_id: str, content: str, author_id: str, run_id: str, client_msg_id: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """exchange_steps in the caller's transaction: the user message and its reply placeholder."""
    user, reply, _renamed = await drive(await session.connection(),
                                        exchange_steps(chat_id, content, author_id, run_id, client_msg_id))
    return user, reply


class ChatBusy(Exception):
    """Another run holds the chat (a send that may not wait or interrupt is refused; nothing was stored)."""


class RunQuotaReached(Exception):
    """The user has as many replies streaming or queued as allowed (nothing was stored)."""


class NotAllowed(Exception):
    """The sender's rights, read in the send's own transaction, no longer allow it (nothing was stored).
    `role`: their project role now (None: not a member); `permission`: the global permission they lack."""

    def __init__(self, role: str | None = None, permission: str | None = None) -> None:
        super().__init__(role or permission)
        self.role = role
        self.permission = permission


@dataclass(frozen=True)
class Recheck:
    """The rights a send needs, checked again inside its write transaction (a role changed a moment ago, its
    event not applied in this process yet, must not let a message through): a role among `roles` in the
    project `project_id`, or the global `permission` (a personal chat's `chat.use`)."""

    project_id: str | None = None
    roles: tuple[str, ...] = ()
    permission: str | None = None


_MEMBER_ROLE = select(ProjectMember.role).where(ProjectMember.project_id == bindparam("p_project"),
                                                ProjectMember.user_id == bindparam("p_user"))
_HOLDS_PERMISSION = (select(func.count()).select_from(RolePermission)
                     .join(UserRole, UserRole.role_id == RolePermission.role_id)
                     .where(UserRole.user_id == bindparam("p_user"), RolePermission.permission == bindparam("p_perm")))


def recheck_steps(recheck: Recheck, user_id: str) -> Script[None]:
    """Raise NotAllowed unless `user_id` still holds what `recheck` asks for."""
    if recheck.project_id is not None:
        role = (yield Step(_MEMBER_ROLE, {"p_project": recheck.project_id, "p_user": user_id})).scalar()
        if role not in recheck.roles:
            raise NotAllowed(role=role)
    if recheck.permission is not None:
        held = (yield Step(_HOLDS_PERMISSION, {"p_user": user_id, "p_perm": recheck.permission})).scalar()
        if not held:
            raise NotAllowed(permission=recheck.permission)


@dataclass(frozen=True)
class Sent:
    """What a send stored: the two messages, whether its run holds the chat now, the history the agent
    reads (when it does), and the chat's row when the message named it."""

    user: dict[str, Any]
    reply: dict[str, Any]
    claimed: bool
    history: list[dict[str, str]] | None
    renamed: dict[str, Any] | None


def send_steps(chat_id: str, content: str, author_id: str, run_id: str, client_msg_id: str | None, *,
               claim: bool, reject_if_busy: bool, owner: str, lease_s: float, runs_of_user: int, max_runs: int,
               count_elsewhere: bool, recheck: Recheck | None = None) -> Script[Sent]:
    """A send as one transaction: check the sender's rights again (`recheck`), claim the chat for the reply's
    run (when `claim`: nothing of this process holds it), check the user's run quota (`runs_of_user` counted
    in memory, plus those other processes hold when `count_elsewhere`), store the exchange, and read the
    agent's history when the run starts now.

    Raises NotAllowed, ChatBusy (another run holds the chat and `reject_if_busy`), RunQuotaReached or
    LookupError (the chat is gone): the transaction then rolls back.
    """
    if recheck is not None:
        yield from recheck_steps(recheck, author_id)
    claimed = bool(claim and (yield claim_step(chat_id, run_id, owner, lease_s)).rowcount)
    if claim and not claimed and reject_if_busy:
        if (yield Step(_CHAT_HEAD, {"chat_id": chat_id})).scalar() is None:
            raise LookupError(f"no chat session {chat_id}")
        raise ChatBusy(chat_id)
    if count_elsewhere and runs_of_user < max_runs:
        runs_of_user += int((yield active_runs_step(author_id, owner)).scalar() or 0)
    if runs_of_user >= max_runs:
        raise RunQuotaReached(author_id)
    user, reply, renamed = yield from exchange_steps(chat_id, content, author_id, run_id, client_msg_id)
    history = None
    if claimed:  # a reply that starts now reads its history here: one transaction less than when it starts
        rows = (yield Step(_AGENT_HISTORY, {"chat_id": chat_id})).rows
        history = [{"role": role, "content": text} for message_id, role, text in rows if message_id != reply["id"]]
    return Sent(user, reply, claimed, history, renamed)


# --- run leases: one active run per chat, cluster-wide ------------------------------------------

# Lease bookkeeping is not a change of the chat: its updated_at (an ORM onupdate, which Core applies too) stays.
_UNCHANGED = {"updated_at": ChatSession.updated_at}


def _first_in_line(chat_id: Any, run_id: Any) -> Any:
    """No other reply of the chat waits (`streaming`) from before `run_id`'s own: queued replies start in the
    order they were sent, whichever process queued them, and a reply never starts beside another one."""
    mine = (select(func.min(ChatMessage.seq))
            .where(ChatMessage.session_id == chat_id, ChatMessage.run_id == run_id, ChatMessage.role == "assistant")
            .scalar_subquery())
    earlier = select(ChatMessage.id).where(
        ChatMessage.session_id == chat_id, ChatMessage.role == "assistant", ChatMessage.status == "streaming",
        ChatMessage.run_id != run_id, or_(mine.is_(None), ChatMessage.seq < mine))
    return ~exists(earlier)


# Parameter names differ from the columns': SQLAlchemy reserves a column's name for its SET value.
_HELD = and_(ChatSession.id == bindparam("p_chat"), ChatSession.run_id == bindparam("p_run"))
_CLAIM = (update(ChatSession)
          .where(ChatSession.id == bindparam("p_chat"),
                 or_(ChatSession.run_id.is_(None), ChatSession.run_lease_until < bindparam("p_now")),
                 _first_in_line(bindparam("p_chat"), bindparam("p_run")))
          .values(run_id=bindparam("p_run"), run_owner=bindparam("p_owner"), run_lease_until=bindparam("p_until"),
                  **_UNCHANGED)
          .execution_options(synchronize_session=False))
_HAND_OVER = (update(ChatSession).where(_HELD, _first_in_line(bindparam("p_chat"), bindparam("p_next")))
              .values(run_id=bindparam("p_next"), run_owner=bindparam("p_owner"), run_lease_until=bindparam("p_until"),
                      **_UNCHANGED)
              .execution_options(synchronize_session=False))
_FREE = (update(ChatSession).where(_HELD)
         .values(run_id=None, run_owner=None, run_lease_until=bindparam("p_now"), **_UNCHANGED)
         .execution_options(synchronize_session=False))
# From the few chats held now (indexed by lease) to each one's user message (indexed by run id).
_ACTIVE_RUNS_BY = (select(func.count()).select_from(ChatSession)
                   .where(ChatSession.run_lease_until >= bindparam("p_now"), ChatSession.run_id.is_not(None),
                          ChatSession.run_owner != bindparam("p_owner"),
                          exists().where(ChatMessage.run_id == ChatSession.run_id, ChatMessage.role == "user",
                                         ChatMessage.author_id == bindparam("p_user"))))


def claim_step(chat_id: str, run_id: str, owner: str, lease_s: float) -> Step:
    """Make `run_id` the chat's active run, held by `owner` for `lease_s` (rowcount 1), unless another run
    holds it (its lease still running) or an earlier reply of the chat still waits or streams
    (`_first_in_line`; a reply whose run's lease expired waits for the sweep to interrupt it). One conditional
    UPDATE: atomic on every backend."""
    now = utcnow()
    return Step(_CLAIM, {"p_chat": chat_id, "p_run": run_id, "p_owner": owner, "p_now": now,
                         "p_until": now + dt.timedelta(seconds=lease_s)})


def active_runs_step(user_id: str, owner: str) -> Step:
    """Count the chats a run started by this user holds now (lease running) in processes other than `owner`
    (that process counts its own in memory)."""
    return Step(_ACTIVE_RUNS_BY, {"p_now": utcnow(), "p_owner": owner, "p_user": user_id})


async def claim_run(session: AsyncSession, chat_id: str, run_id: str, owner: str, lease_s: float) -> bool:
    """claim_step in the caller's transaction: whether `run_id` holds the chat now."""
    step = claim_step(chat_id, run_id, owner, lease_s)
    return bool((await (await session.connection()).execute(step.statement, step.params)).rowcount)


def release_steps(chat_id: str, run_id: str, *, next_run_id: str | None = None, owner: str | None = None,
                  lease_s: float = 0.0) -> Script[bool]:
    """End `run_id`'s hold on its chat. With `next_run_id` (a run of the same owner queued behind it), hand
    the chat to that run when it is first in line (`_first_in_line`) and return True; otherwise free the chat
    (a process that queued an earlier reply claims it) and return whether `run_id` held it — False with
    `next_run_id` given."""
    # A chat that comes free keeps when it did (in run_lease_until): see interrupt_abandoned.
    if next_run_id is not None:
        handed = yield Step(_HAND_OVER, {"p_chat": chat_id, "p_run": run_id, "p_next": next_run_id, "p_owner": owner,
                                         "p_until": utcnow() + dt.timedelta(seconds=lease_s)})
        if handed.rowcount:
            return True
    freed = yield Step(_FREE, {"p_chat": chat_id, "p_run": run_id, "p_now": utcnow()})
    return bool(freed.rowcount) and next_run_id is None


async def release_run(session: AsyncSession, chat_id: str, run_id: str, *, next_run_id: str | None = None,
                      owner: str | None = None, lease_s: float = 0.0) -> bool:
    """release_steps in the caller's transaction."""
    return await drive(await session.connection(),
                       release_steps(chat_id, run_id, next_run_id=next_run_id, owner=owner, lease_s=lease_s))


async def renew_runs(session: AsyncSession, owner: str, run_ids: list[str], lease_s: float) -> int:
    """Extend the leases of the runs `owner` is running (its heartbeat); return how many it renewed.

    A chat another transaction holds right now (a reply ending or starting there) is skipped, not waited for:
    the heartbeat comes every third of a lease, and waiting on several chats in its own order while that
    transaction locks another of them deadlocked on PostgreSQL (the soak test caught it)."""
    free_now = (select(ChatSession.id).where(ChatSession.run_owner == owner, ChatSession.run_id.in_(run_ids))
                .with_for_update(skip_locked=True))
    result = await (await session.connection()).execute(
        update(ChatSession).where(ChatSession.id.in_(free_now.scalar_subquery()))
        .values(run_lease_until=utcnow() + dt.timedelta(seconds=lease_s), **_UNCHANGED)
        .execution_options(synchronize_session=False))
    return int(result.rowcount)


async def active_runs_started_by(session: AsyncSession, user_id: str, *, other_than: str) -> int:
    """active_runs_step in the caller's transaction."""
    step = active_runs_step(user_id, other_than)
    return int((await (await session.connection()).execute(step.statement, step.params)).scalar() or 0)


async def interrupt_abandoned(session: AsyncSession, *, grace_s: float,
                              keep_runs: set[str] | frozenset[str] = frozenset()) -> list[ChatMessage]:
    """Replies whose process is gone become `interrupted`; return them. Abandoned: the reply of a run whose
    lease expired, and any reply still `streaming` for longer than `grace_s` in a chat that has been free for
    longer than that (queued by a process that is gone: a live one claims a free chat within a third of a
    lease). Expired chats are freed. `keep_runs`: this process's own runs.

    Locks go chat first, then its messages — the order every other writer of a reply uses (finishing a reply
    locks its chat first) — and skip what another transaction holds, so several processes sweeping at once
    neither deadlock with a reply's end nor update one row twice (versioned rows would raise StaleDataError)."""
    now = utcnow()
    old = now - dt.timedelta(seconds=grace_s)
    candidates = select(ChatMessage.session_id).where(ChatMessage.status == "streaming").distinct()
    chats = list(await session.scalars(
        select(ChatSession).where(ChatSession.id.in_(candidates)).with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)))
    expired = {c.id: c.run_id for c in chats
               if c.run_id is not None and c.run_lease_until is not None and c.run_lease_until < now
               and c.run_id not in keep_runs}
    long_free = {c.id for c in chats if c.run_id is None and (c.run_lease_until is None or c.run_lease_until < old)}
    if not expired and not long_free:
        return []
    streaming = await session.scalars(
        select(ChatMessage).where(ChatMessage.session_id.in_([*expired, *long_free]), ChatMessage.status == "streaming")
        .with_for_update(skip_locked=True).execution_options(populate_existing=True))
    rows = [m for m in streaming if m.run_id not in keep_runs and (
        (m.session_id in expired and m.run_id == expired[m.session_id])
        or (m.session_id in long_free and m.created_at < old))]
    for message in rows:
        message.status = "interrupted"
    for chat_id, run_id in expired.items():
        await session.execute(
            update(ChatSession).where(ChatSession.id == chat_id, ChatSession.run_id == run_id)
            .values(run_id=None, run_owner=None, run_lease_until=now, **_UNCHANGED)
            .execution_options(synchronize_session=False))
    await session.flush()
    return rows


async def get_message(session: AsyncSession, message_id: str, *, refresh: bool = False) -> ChatMessage | None:
    """Return a message by id, or None; `refresh` re-reads a row already in this session."""
    stmt = select(ChatMessage).where(ChatMessage.id == message_id)
    if refresh:
        stmt = stmt.execution_options(populate_existing=True)
    return await session.scalar(stmt)


def _finish_statement(tool_calls: Any) -> Any:
    return (update(ChatMessage).where(ChatMessage.id == bindparam("p_id"))
            .values(content=bindparam("p_content"), status=bindparam("p_status"), error=bindparam("p_error"),
                    tool_calls=tool_calls, cancelled_by=bindparam("p_cancelled_by"),
                    version=ChatMessage.version + 1, updated_at=bindparam("p_now"))
            .returning(*ChatMessage.__table__.c)
            .execution_options(synchronize_session=False))


# No tool calls: SQL NULL, as the placeholder was stored (a bound None would be JSON's `null`).
_FINISH = _finish_statement(None)
_FINISH_WITH_TOOLS = _finish_statement(bindparam("p_tools", type_=ChatMessage.__table__.c.tool_calls.type))


def finish_steps(chat_id: str, message_id: str, run_id: str, *, lock: bool, content: str, status: str,
                 error: str | None, tool_calls: Any, cancelled_by: str | None, owner: str, lease_s: float,
                 next_run_id: str | None) -> Script[tuple[dict[str, Any] | None, bool]]:
    """A reply's end as one transaction: store its final text and status (one UPDATE … RETURNING: no read
    first, no unit of work; a new version, as an ORM update would make it), then hand the chat to this
    process's next queued run or free it (release_steps). Gives back the reply's columns (None when it is
    gone) and whether the chat was handed over. `lock`: take the chat's row lock first (PostgreSQL; on
    SQLite BEGIN IMMEDIATE already excludes every other writer)."""
    if lock:
        yield lock_row_step(chat_id)
    statement = _FINISH_WITH_TOOLS if tool_calls is not None else _FINISH
    stored = yield Step(statement, {
        "p_id": message_id, "p_content": content, "p_status": status, "p_error": error, "p_tools": tool_calls,
        "p_cancelled_by": cancelled_by, "p_now": utcnow()})
    handed = yield from release_steps(chat_id, run_id, owner=owner, lease_s=lease_s, next_run_id=next_run_id)
    return stored.first_mapping(), handed and next_run_id is not None


async def find_by_client_msg_id(session: AsyncSession, chat_id: str, client_msg_id: str) -> ChatMessage | None:
    """Return the message a client already sent with this idempotency key, or None."""
    return await session.scalar(
        select(ChatMessage).where(ChatMessage.session_id == chat_id, ChatMessage.client_msg_id == client_msg_id)
    )


_AGENT_HISTORY = (select(ChatMessage.id, ChatMessage.role, ChatMessage.content)
                  .where(ChatMessage.session_id == bindparam("chat_id"), ChatMessage.status != "streaming",
                         ChatMessage.content != "")
                  .order_by(ChatMessage.seq))


async def agent_history(session: AsyncSession, chat_id: str, *, leaving_out: str) -> list[dict[str, str]]:
    """What the agent reads of a chat before a reply: role and text of each finished, non-empty message,
    oldest first, without the reply being written (`leaving_out`). Columns only: no ORM objects per run."""
    rows = await (await session.connection()).execute(_AGENT_HISTORY, {"chat_id": chat_id})
    return [{"role": role, "content": content} for message_id, role, content in rows if message_id != leaving_out]


async def history(session: AsyncSession, chat_id: str) -> list[ChatMessage]:
    """Return every message of a session, oldest first (the agent's memory)."""
    rows = await session.scalars(
        select(ChatMessage).where(ChatMessage.session_id == chat_id).order_by(ChatMessage.seq)
    )
    return list(rows)


async def page_messages(
    session: AsyncSession, chat_id: str, *, before_seq: int | None = None, limit: int = 50
) -> tuple[list[ChatMessage], bool]:
    """Return up to `limit` messages older than `before_seq` (newest page by default), oldest first, and has_more."""
    cond = ChatMessage.session_id == chat_id
    if before_seq is not None:
        cond = and_(cond, ChatMessage.seq < before_seq)
    rows = list(await session.scalars(
        select(ChatMessage).where(cond).order_by(ChatMessage.seq.desc()).limit(limit + 1)
    ))
    has_more = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    return rows, has_more


async def edit_message(session: AsyncSession, chat: ChatSession, message: ChatMessage, content: str) -> ChatMessage:
    """Replace a message's text as its author's edit: sets edited_at (unless the text is the same: a
    regenerate of an unchanged prompt is not an edit) and touches the session."""
    if content != message.content:
        message.content = content
        message.edited_at = utcnow()
    touch(chat)
    await session.flush()
    return message


async def delete_messages_after(session: AsyncSession, chat_id: str, seq: int) -> list[ChatMessage]:
    """Delete every message of a session after position `seq`; return them (detached), oldest first."""
    rows = list(await session.scalars(
        select(ChatMessage).where(ChatMessage.session_id == chat_id, ChatMessage.seq > seq)
        .order_by(ChatMessage.seq)
    ))
    if rows:
        await session.execute(delete(ChatMessage).where(ChatMessage.id.in_([m.id for m in rows])))
        for message in rows:
            session.expunge(message)
    return rows


async def relink_last_prompt(session: AsyncSession, chat_id: str, run_id: str) -> ChatMessage | None:
    """Make the chat's last user message the prompt of `run_id` (a regenerated reply); return it."""
    prompt = await session.scalar(
        select(ChatMessage).where(ChatMessage.session_id == chat_id, ChatMessage.role == "user")
        .order_by(ChatMessage.seq.desc()).limit(1))
    if prompt is not None:
        prompt.run_id = run_id
        await session.flush()
    return prompt


async def run_status(session: AsyncSession, chat_id: str, run_id: str) -> str | None:
    """The status of a run's reply in a chat (None when there is none)."""
    return await session.scalar(select(ChatMessage.status).where(
        ChatMessage.session_id == chat_id, ChatMessage.run_id == run_id, ChatMessage.role == "assistant"))


async def replies_to(session: AsyncSession, prompt: ChatMessage) -> list[ChatMessage]:
    """The assistant messages answering a user message (its run's reply; a regenerated one included)."""
    if prompt.role != "user" or prompt.run_id is None:
        return []
    return list(await session.scalars(
        select(ChatMessage).where(ChatMessage.session_id == prompt.session_id, ChatMessage.role == "assistant",
                                  ChatMessage.run_id == prompt.run_id).order_by(ChatMessage.seq)))


async def delete_message(session: AsyncSession, message_id: str) -> None:
    """Delete one message."""
    await session.execute(delete(ChatMessage).where(ChatMessage.id == message_id))


async def interrupt_streaming(session: AsyncSession) -> list[ChatMessage]:
    """Mark every reply left `streaming` as `interrupted` and free every chat; return them (start-up recovery
    of a server that is the only process on its database)."""
    rows = list(await session.scalars(select(ChatMessage).where(ChatMessage.status == "streaming")))
    for message in rows:
        message.status = "interrupted"
    await session.execute(update(ChatSession).where(ChatSession.run_id.is_not(None))
                          .values(run_id=None, run_owner=None, run_lease_until=None, **_UNCHANGED)
                          .execution_options(synchronize_session=False))
    await session.flush()
    return rows
