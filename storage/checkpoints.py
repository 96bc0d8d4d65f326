"""Checkpoints of replies while they stream: the text so far of many messages, in one statement.

A separate module from `storage.chats` only because it is the hot path of streaming: with 64 replies
streaming, one ORM read and one versioned ORM flush per reply per second were the largest database cost
of the server. The caller holds the write transaction and, on PostgreSQL, the sessions' locks (see
`storage.chats.lock_session`). Never commits.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChatMessage, utcnow

# Run on the session's Connection: a Core executemany, one prepared statement for the whole batch (through
# the Session, a list of parameters would make it an ORM bulk update by primary key). `version` and
# `updated_at` change as in an ORM update.
_SAVE_TEXT = (
    update(ChatMessage)
    .where(ChatMessage.id == bindparam("b_id"), ChatMessage.status == "streaming")
    .values(content=bindparam("b_text"), version=ChatMessage.version + 1,
            updated_at=bindparam("b_now", type_=ChatMessage.updated_at.type))
)


async def save_streaming_texts(session: AsyncSession, texts: Sequence[tuple[str, str]]) -> None:
    """Store (message id, text so far) for each message that is still `streaming`; others are left alone."""
    if not texts:
        return
    now = utcnow()
    connection = await session.connection()
    await connection.execute(_SAVE_TEXT, [{"b_id": mid, "b_text": text, "b_now": now} for mid, text in texts])
