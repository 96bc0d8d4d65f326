"""Checkpoints of replies while they stream: the text so far of many messages, in one statement.

A separate module from `storage.chats` only because it is the hot path of streaming: with 64 replies
streaming, one ORM read and one versioned ORM flush per reply per second were the largest database cost
of the server. `save_steps` is a whole checkpoint transaction as a script (storage.scripts: on SQLite one
trip to the writer's thread); `save_streaming_texts` runs the update in a caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.chats import lock_row_step
from storage.models import ChatMessage, utcnow
from storage.scripts import Script, Step, drive

# Run on the session's Connection: a Core executemany, one prepared statement for the whole batch (through
# the Session, a list of parameters would make it an ORM bulk update by primary key). `version` and
# `updated_at` change as in an ORM update.
_SAVE_TEXT = (
    update(ChatMessage)
    .where(ChatMessage.id == bindparam("b_id"), ChatMessage.status == "streaming")
    .values(content=bindparam("b_text"), version=ChatMessage.version + 1,
            updated_at=bindparam("b_now", type_=ChatMessage.updated_at.type))
)


def save_steps(texts: Sequence[tuple[str, str]], lock_chats: Sequence[str] = ()) -> Script[None]:
    """Store (message id, text so far) for each message that is still `streaming`; others are left alone.
    `lock_chats`: the chats whose row locks to take first (PostgreSQL: every write to a chat's messages
    locks the chat; on SQLite the write transaction already excludes every other writer), in one order."""
    for chat_id in lock_chats:
        yield lock_row_step(chat_id)
    if texts:
        now = utcnow()
        yield Step(_SAVE_TEXT, [{"b_id": mid, "b_text": text, "b_now": now} for mid, text in texts])


async def save_streaming_texts(session: AsyncSession, texts: Sequence[tuple[str, str]]) -> None:
    """save_steps in the caller's transaction (which holds the chats' locks)."""
    await drive(await session.connection(), save_steps(texts))
