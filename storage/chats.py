"""Chat sessions and their messages: the repository the chat handlers and the agent runs share.

Every write to a session's messages first locks the session row (`lock_session`): on PostgreSQL that is
`SELECT ... FOR UPDATE`, on SQLite the write transaction already holds the database (BEGIN IMMEDIATE).
So message sequence numbers never collide and versioned rows are never updated from a stale read.
Functions take the caller's AsyncSession and never commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChatMessage, ChatSession, utcnow

DEFAULT_TITLE = "New chat"
_UNSET: Any = object()


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


async def lock_session(session: AsyncSession, chat_id: str) -> ChatSession | None:
    """Lock a chat session row for this transaction and refresh it; None when it is gone."""
    stmt = (
        select(ChatSession).where(ChatSession.id == chat_id).with_for_update()
        .execution_options(populate_existing=True)
    )
    return await session.scalar(stmt)


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


async def get_message(session: AsyncSession, message_id: str, *, refresh: bool = False) -> ChatMessage | None:
    """Return a message by id, or None; `refresh` re-reads a row already in this session."""
    stmt = select(ChatMessage).where(ChatMessage.id == message_id)
    if refresh:
        stmt = stmt.execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def find_by_client_msg_id(session: AsyncSession, chat_id: str, client_msg_id: str) -> ChatMessage | None:
    """Return the message a client already sent with this idempotency key, or None."""
    return await session.scalar(
        select(ChatMessage).where(ChatMessage.session_id == chat_id, ChatMessage.client_msg_id == client_msg_id)
    )


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


async def update_message(
    session: AsyncSession, message: ChatMessage, *, content: str | None = None, status: str | None = None,
    error: str | None = _UNSET, tool_calls: Any = _UNSET, run_id: str | None = _UNSET,
) -> ChatMessage:
    """Change a message in place (checkpoints, final status); the caller holds the session lock."""
    if content is not None:
        message.content = content
    if status is not None:
        message.status = status
    if error is not _UNSET:
        message.error = error
    if tool_calls is not _UNSET:
        message.tool_calls = tool_calls
    if run_id is not _UNSET:
        message.run_id = run_id
    await session.flush()
    return message


async def edit_message(session: AsyncSession, chat: ChatSession, message: ChatMessage, content: str) -> ChatMessage:
    """Replace a message's text as its author's edit: sets edited_at and touches the session."""
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


async def delete_message(session: AsyncSession, message_id: str) -> None:
    """Delete one message."""
    await session.execute(delete(ChatMessage).where(ChatMessage.id == message_id))


async def interrupt_streaming(session: AsyncSession) -> list[ChatMessage]:
    """Mark replies left `streaming` (by a crash) as `interrupted`; return them (startup recovery)."""
    rows = list(await session.scalars(select(ChatMessage).where(ChatMessage.status == "streaming")))
    for message in rows:
        message.status = "interrupted"
    await session.flush()
    return rows
