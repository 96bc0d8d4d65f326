"""Chat sessions and messages: request bodies, queries and the JSON they answer."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from chatsvc.schemas.common import ID_PATTERN, ORM, NonBlank, PageQuery, Request

MAX_CONTENT = 32000
MessageRole = Literal["user", "assistant"]
MessageStatus = Literal["streaming", "complete", "cancelled", "failed", "interrupted"]
IfBusy = Literal["reject", "enqueue", "interrupt"]



class ChatSessionCreate(Request):
    """Start a chat: personal without `project_id`, otherwise inside that project."""

    title: NonBlank | None = Field(None, min_length=1, max_length=200, description="default 'New chat'")
    project_id: str | None = Field(None, pattern=ID_PATTERN)


class ChatSessionUpdate(Request):
    """Rename a chat."""

    title: NonBlank = Field(min_length=1, max_length=200)


class SessionListQuery(PageQuery):
    """?project_id= narrows the list to one project; without it every visible session is listed (an empty
    `?project_id=` is no id: a 422)."""

    project_id: str | None = Field(None, pattern=ID_PATTERN)


class ChatSessionOut(ORM):
    id: str
    title: str
    project_id: str | None
    owner_id: str | None = Field(description="the creator; the only reader of a personal session")
    last_activity_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class MessageOut(ORM):
    id: str
    session_id: str
    role: MessageRole
    content: str
    status: MessageStatus
    author_id: str | None
    run_id: str | None
    client_msg_id: str | None
    tool_calls: Any = None
    error: str | None
    edited_at: dt.datetime | None
    cancelled_by: str | None = Field(None, description="a cancelled reply: the user who stopped it (null: the "
                                                       "server did, e.g. its prompt was deleted)")
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class MessageListQuery(BaseModel):
    """?before=<message_id> (exclusive) and ?limit= (1..200, default 50)."""

    model_config = ConfigDict(extra="ignore")

    before: str | None = Field(None, pattern=ID_PATTERN,
                               description="a message id of this session; older messages are returned")
    limit: int = Field(50, ge=1, le=200)


class MessagePage(BaseModel):
    items: list[MessageOut] = Field(description="oldest first")
    has_more: bool = Field(description="older messages exist before the first item")


class MessageCreate(Request):
    """Send a message; the content is kept exactly as typed (no trimming), but may not be blank."""

    model_config = ConfigDict(str_strip_whitespace=False)

    content: NonBlank = Field(min_length=1, max_length=MAX_CONTENT)
    client_msg_id: str | None = Field(
        None, min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$",
        description="idempotency key (printable ASCII, no spaces): a retry with the same id creates nothing new",
    )
    if_busy: IfBusy = Field("reject", description="when a run is active: reject (409 run_active), enqueue, "
                                                  "or interrupt it")


class SendOut(BaseModel):
    user_message: MessageOut
    assistant_message: MessageOut
    run_id: str


class CancelOut(BaseModel):
    cancelled: bool = Field(description="true when a run was active and has been asked to stop")
    run_id: str | None = Field(None, description="the run that was stopped")


class MessageUpdate(Request):
    """Edit a user message; with `regenerate`, every later message of the session is removed."""

    model_config = ConfigDict(str_strip_whitespace=False)

    content: NonBlank = Field(min_length=1, max_length=MAX_CONTENT)
    regenerate: StrictBool = Field(False, description="true or false (not 0 or 1)")


def session_json(chat: Any) -> dict[str, Any]:
    """A chat session (ORM row) as its API JSON: the one definition events, REST and services share."""
    return ChatSessionOut.model_validate(chat).model_dump(mode="json")


def message_json(message: Any) -> dict[str, Any]:
    """A chat message (ORM row) as its API JSON: the one definition events, REST and services share."""
    return MessageOut.model_validate(message).model_dump(mode="json")
