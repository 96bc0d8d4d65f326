"""Chat sessions (personal or in a project) and their messages; sending one starts the agent's reply.

The views only translate: every command is a ChatService call (chatsvc/services/chat.py, which also says who
may do what), the same one the websocket ops and SSE use.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatsvc import authz, keys
from chatsvc.errors import ValidationFailed
from chatsvc.schemas import Page, page_of
from chatsvc.schemas.chat import (
    CancelOut,
    ChatSessionCreate,
    ChatSessionOut,
    ChatSessionUpdate,
    MessageCreate,
    MessageListQuery,
    MessageOut,
    MessagePage,
    MessageUpdate,
    SendOut,
    SessionListQuery,
)
from chatsvc.services.chat import ChatService
from chatsvc.sse import stream_run
from chatsvc.views import ApiView, endpoint
from storage import chats


class ChatView(ApiView):
    """Shared helpers of the chat views."""

    tag = "chat"

    def ident(self) -> str:
        """Return the {id} path parameter (ApiView.match turns anything that cannot be an id into a 404)."""
        return self.match("id")

    @property
    def chat(self) -> ChatService:
        return self.app[keys.SERVICES].chat


class ChatSessionsView(ChatView):
    path = "/chat/sessions"

    @endpoint("Start a chat session, personal or in a project", body=ChatSessionCreate, response=ChatSessionOut,
              status=201, errors=(403, 404),
              description="Without `project_id` the session is personal (needs the global `chat.use` "
                          "permission) and only you see it. With `project_id` you need the editor role or "
                          "above in that project (viewer 403, non-member 404); every member can read it.")
    async def post(self, body: ChatSessionCreate) -> dict[str, Any]:
        return await self.chat.create_session(self.principal, title=body.title, project_id=body.project_id)

    @endpoint("List chat sessions, most recent activity first", query=SessionListQuery,
              response=Page[ChatSessionOut], errors=(404,),
              description="Without `project_id`: your personal sessions and the sessions of every project "
                          "you are a member of (a superuser: every project's, plus their own personal ones). "
                          "With `project_id`: that project's sessions (non-member 404). Ordered by "
                          "`last_activity_at` descending.")
    async def get(self, query: SessionListQuery) -> dict[str, Any]:
        async with self.db.read() as s:
            if query.project_id is not None:
                await authz.require_project(s, self.principal, query.project_id)
                project_ids = None
            else:
                project_ids = await authz.visible_project_ids(s, self.principal)
            rows, total = await chats.list_sessions(
                s, user_id=self.principal.user_id, project_ids=project_ids, project_id=query.project_id,
                limit=query.limit, offset=query.offset,
            )
            return page_of(ChatSessionOut, rows, total, query)


class ChatSessionView(ChatView):
    path = "/chat/sessions/{id}"

    @endpoint("Read a chat session", response=ChatSessionOut, errors=(404,))
    async def get(self) -> ChatSessionOut:
        async with self.db.read() as s:
            chat = await authz.require_chat_session(s, self.principal, self.ident())
            return ChatSessionOut.model_validate(chat)

    @endpoint("Rename a chat session", body=ChatSessionUpdate, response=ChatSessionOut, errors=(403, 404),
              description="Personal: the owner. Project: editor or above (viewer 403).")
    async def patch(self, body: ChatSessionUpdate) -> dict[str, Any]:
        return await self.chat.rename_session(self.principal, self.ident(), body.title)

    @endpoint("Delete a chat session and all its messages", status=204, errors=(403, 404),
              description="Personal: the owner. Project: a project owner, or the session's creator while "
                          "they are editor or above; other members get 403.")
    async def delete(self) -> None:
        await self.chat.delete_session(self.principal, self.ident())


class MessagesView(ChatView):
    path = "/chat/sessions/{id}/messages"

    @endpoint("Page through a session's messages, newest page first, each page oldest first",
              query=MessageListQuery, response=MessagePage, errors=(404,),
              description="Without `before`: the latest `limit` messages. With `before=<message_id>`: the "
                          "`limit` messages just older than it. `has_more` tells whether older ones exist. "
                          "A `before` that is not a message of this session is a 422 on `query.before` "
                          "(e.g. it was deleted meanwhile: reload from the newest page).")
    async def get(self, query: MessageListQuery) -> MessagePage:
        async with self.db.read() as s:
            chat = await authz.require_chat_session(s, self.principal, self.ident())
            before_seq = None
            if query.before is not None:
                anchor = await chats.get_message(s, query.before)
                if anchor is None or anchor.session_id != chat.id:
                    raise ValidationFailed.field(["query", "before"], "No such message in this session.")
                before_seq = anchor.seq
            rows, has_more = await chats.page_messages(s, chat.id, before_seq=before_seq, limit=query.limit)
            return MessagePage(items=[MessageOut.model_validate(r) for r in rows], has_more=has_more)

    @endpoint("Send a message; the agent's reply streams on the websocket (or as SSE)", body=MessageCreate,
              response=SendOut, status=202, errors=(403, 404, 409, 429),
              description="Needs write access (personal: the owner; project: editor or above). Answers 202 "
                          "`{user_message, assistant_message, run_id}` and the reply streams on the websocket "
                          "topic chat:{id}; with `Accept: text/event-stream` the reply streams in this response "
                          "as SSE events `message`, `delta`, `tool`, `done` and `error`. A retry with the same "
                          "`client_msg_id` returns the first result and creates nothing. While a run is active, "
                          "`if_busy` decides: `reject` (409 `run_active`), `enqueue` or `interrupt`. A user with "
                          "the most replies streaming or queued the server allows gets 429 with Retry-After.")
    async def post(self, body: MessageCreate) -> SendOut | web.StreamResponse:
        chat_id = self.ident()

        async def start() -> Any:
            return await self.chat.send(self.principal, chat_id, body.content, body.client_msg_id, body.if_busy)

        if "text/event-stream" in self.request.headers.get("Accept", ""):
            # Authorized before the stream opens, so a refusal is a plain JSON error, not an SSE `error`.
            await self.chat.writable_chat(self.principal, chat_id)
            return await stream_run(self.request, self.app[keys.EVENTS], chat_id, start,
                                    self.app[keys.RUNS].snapshot)
        result = await start()
        return SendOut(user_message=result.user_message, assistant_message=result.assistant_message,
                       run_id=result.run_id)


class CancelView(ChatView):
    path = "/chat/sessions/{id}/cancel"

    @endpoint("Stop the session's active run (partial reply kept as `cancelled`)", response=CancelOut,
              status=202, errors=(403, 404),
              description="Idempotent, so a stop button never has to handle a race: `cancelled: true` with "
                          "the `run_id` when a run was asked to stop, `cancelled: false` when none was active "
                          "(it had already ended). Needs write access. The run then ends with `run.cancelled`.")
    async def post(self) -> CancelOut:
        run_id = await self.chat.cancel(self.principal, self.ident(), drop_queue=True)
        return CancelOut(cancelled=run_id is not None, run_id=run_id)


class MessageView(ChatView):
    path = "/chat/messages/{id}"

    @endpoint("Edit your own message; optionally regenerate the reply", body=MessageUpdate, response=MessageOut,
              errors=(403, 404, 429),
              description="Only the author edits a user message, and only with write access; assistant "
                          "messages and other people's messages are 403 (and change nothing, not even a "
                          "streaming reply). Sets `edited_at` and bumps `version`. With `regenerate: true` a run "
                          "still streaming is cancelled, every later message of the session is deleted (each "
                          "publishes `message.deleted`) and a new run answers the edited message (429 with "
                          "Retry-After when you already have the most replies going). Answers the edited message.")
    async def patch(self, body: MessageUpdate) -> dict[str, Any]:
        return await self.chat.edit_message(self.principal, self.ident(), body.content, bool(body.regenerate))

    @endpoint("Delete a message", status=204, errors=(403, 404),
              description="Allowed to the author of a user message (with write access), a project owner, "
                          "and the owner of a personal session.")
    async def delete(self) -> None:
        await self.chat.delete_message(self.principal, self.ident())


VIEWS = [ChatSessionsView, ChatSessionView, MessagesView, CancelView, MessageView]
