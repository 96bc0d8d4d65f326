"""Chat sessions (personal or in a project) and their messages; sending one starts the agent's reply.

Who may do what (authz.require_chat_session decides visibility; a caller who may not see a chat gets 404):
- personal session: only its owner sees and changes it (a superuser too);
- project session: members read; editors and owners write (post, rename, cancel, edit own messages).
  Deleting it: a project owner, or its creator while still editor or above.
- messages: the author edits their own user message; assistant messages are never edited (403).
  Deleting one: its author (user messages, with write access), a project owner, or the personal session's owner.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz, keys
from chatsvc.errors import Forbidden, NotFound, ValidationFailed
from chatsvc.events import chat_topic, project_topic, publish_resource, user_topic
from chatsvc.schemas import Page, page_of
from chatsvc.schemas.chat import (
    CancelOut,
    MessageCreate,
    MessageListQuery,
    MessageOut,
    MessagePage,
    MessageUpdate,
    SendOut,
    SessionCreate,
    SessionListQuery,
    SessionOut,
    SessionUpdate,
)
from chatsvc.sse import stream_run
from chatsvc.views import ApiView, endpoint
from storage import chats
from storage.models import ChatMessage, ChatSession



def session_topics(chat: ChatSession) -> list[str]:
    """Topics a chat session's own events go to: the chat, plus its project or its owner."""
    topics = [chat_topic(chat.id)]
    if chat.project_id is not None:
        topics.append(project_topic(chat.project_id))
    elif chat.owner_id is not None:
        topics.append(user_topic(chat.owner_id))
    return topics


def session_json(chat: ChatSession) -> dict[str, Any]:
    return SessionOut.model_validate(chat).model_dump(mode="json")


def message_json(message: ChatMessage) -> dict[str, Any]:
    return MessageOut.model_validate(message).model_dump(mode="json")


class ChatView(ApiView):
    """Shared helpers of the chat views."""

    tag = "chat"

    def ident(self) -> str:
        """Return the {id} path parameter (ApiView.match turns anything that cannot be an id into a 404)."""
        return self.match("id")

    def publish(self, topics: list[str], kind: str, action: str, resource: dict[str, Any]) -> None:
        """Publish `<kind>.<action>` after commit, with the caller as actor."""
        publish_resource(self.app[keys.EVENTS], topics, kind, action, resource, actor=self.principal.user_id)

    async def locked_chat(self, s: AsyncSession, *, write: bool) -> ChatSession:
        """Authorize on the session in the path, then lock it for this write transaction."""
        chat = await authz.require_chat_session(s, self.principal, self.ident(), write=write)
        locked = await chats.lock_session(s, chat.id)
        if locked is None:  # deleted meanwhile
            raise NotFound("No such chat session.")
        return locked


class SessionsView(ChatView):
    path = "/chat/sessions"

    @endpoint("Start a chat session, personal or in a project", body=SessionCreate, response=SessionOut,
              status=201, errors=(403, 404),
              description="Without `project_id` the session is personal (needs the global `chat.use` "
                          "permission) and only you see it. With `project_id` you need the editor role or "
                          "above in that project (viewer 403, non-member 404); every member can read it.")
    async def post(self, body: SessionCreate) -> SessionOut:
        async with self.db.write() as s:
            if body.project_id is not None:
                await authz.require_project(s, self.principal, body.project_id, need="editor")
            else:
                await authz.require_permission(s, self.principal, "chat.use")
            chat = await chats.create_session(s, owner_id=self.principal.user_id, project_id=body.project_id,
                                              title=body.title)
            out = SessionOut.model_validate(chat)
        self.publish(session_topics(chat), "chat_session", "created", out.model_dump(mode="json"))
        return out

    @endpoint("List chat sessions, most recent activity first", query=SessionListQuery,
              response=Page[SessionOut], errors=(404,),
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
            return page_of(SessionOut, rows, total, query)


class SessionView(ChatView):
    path = "/chat/sessions/{id}"

    @endpoint("Read a chat session", response=SessionOut, errors=(404,))
    async def get(self) -> SessionOut:
        async with self.db.read() as s:
            chat = await authz.require_chat_session(s, self.principal, self.ident())
            return SessionOut.model_validate(chat)

    @endpoint("Rename a chat session", body=SessionUpdate, response=SessionOut, errors=(403, 404),
              description="Personal: the owner. Project: editor or above (viewer 403).")
    async def patch(self, body: SessionUpdate) -> SessionOut:
        async with self.db.write() as s:
            chat = await self.locked_chat(s, write=True)
            chat.title = body.title
            await s.flush()
            out = SessionOut.model_validate(chat)
        self.publish(session_topics(chat), "chat_session", "updated", out.model_dump(mode="json"))
        return out

    @endpoint("Delete a chat session and all its messages", status=204, errors=(403, 404),
              description="Personal: the owner. Project: a project owner, or the session's creator while "
                          "they are editor or above; other members get 403.")
    async def delete(self) -> None:
        async with self.db.write() as s:
            chat = await self.locked_chat(s, write=False)
            if chat.project_id is not None:
                role = await authz.project_role(s, self.principal, chat.project_id) or "viewer"
                creator = chat.owner_id == self.principal.user_id
                if role != "owner" and not (creator and authz.ROLE_RANK[role] >= authz.ROLE_RANK["editor"]):
                    raise Forbidden("Only a project owner or the chat's creator (editor or above) may delete it.")
            resource = session_json(chat)
            await chats.delete_session(s, chat.id)
        self.publish(session_topics(chat), "chat_session", "deleted", resource)


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
              response=SendOut, status=202, errors=(403, 404, 409),
              description="Needs write access (personal: the owner; project: editor or above). Answers 202 "
                          "`{user_message, assistant_message, run_id}` and the reply streams on the websocket "
                          "topic chat:{id}; with `Accept: text/event-stream` the reply streams in this response "
                          "as SSE events `message`, `delta`, `tool`, `done` and `error`. A retry with the same "
                          "`client_msg_id` returns the first result and creates nothing. While a run is active, "
                          "`if_busy` decides: `reject` (409 `run_active`), `enqueue` or `interrupt`.")
    async def post(self, body: MessageCreate) -> SendOut | web.StreamResponse:
        async with self.db.read() as s:
            chat = await authz.require_chat_session(s, self.principal, self.ident(), write=True)
        runs = self.app[keys.RUNS]

        async def start() -> Any:
            return await runs.send(chat, self.principal, body.content, body.client_msg_id, body.if_busy)

        if "text/event-stream" in self.request.headers.get("Accept", ""):
            return await stream_run(self.request, self.app[keys.EVENTS], chat.id, start, runs.snapshot)
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
        async with self.db.read() as s:
            chat = await authz.require_chat_session(s, self.principal, self.ident(), write=True)
        run_id = await self.app[keys.RUNS].cancel(chat.id, drop_queue=True)
        return CancelOut(cancelled=run_id is not None, run_id=run_id)


class MessageView(ChatView):
    path = "/chat/messages/{id}"

    async def locked_message(self, s: AsyncSession) -> tuple[ChatMessage, ChatSession]:
        """Load a message the caller may write in, with its session locked; 404 hides invisible ones."""
        message_id = self.ident()
        message = await chats.get_message(s, message_id)
        if message is None:
            raise NotFound("No such message.")
        try:
            chat = await authz.require_chat_session(s, self.principal, message.session_id, write=True)
        except NotFound:
            raise NotFound("No such message.") from None
        locked = await chats.lock_session(s, chat.id)
        message = await chats.get_message(s, message_id, refresh=True)
        if locked is None or message is None:  # deleted meanwhile
            raise NotFound("No such message.")
        return message, locked

    @endpoint("Edit your own message; optionally regenerate the reply", body=MessageUpdate, response=MessageOut,
              errors=(403, 404),
              description="Only the author edits a user message, and only with write access; assistant "
                          "messages and other people's messages are 403. Sets `edited_at` and bumps `version`. "
                          "With `regenerate: true` a run still streaming is cancelled, every later message of "
                          "the session is deleted (each publishes `message.deleted`) and a new run answers the "
                          "edited message. Answers the edited message.")
    async def patch(self, body: MessageUpdate) -> MessageOut:
        runs = self.app[keys.RUNS]
        if body.regenerate:
            async with self.db.read() as s:
                await self.locked_message(s)  # authorize before touching a run
                message = await chats.get_message(s, self.ident())
                assert message is not None
            await runs.cancel(message.session_id, wait=True, drop_queue=True)
        async with self.db.write() as s:
            message, chat = await self.locked_message(s)
            if message.role != "user":
                raise Forbidden("Assistant messages cannot be edited.")
            if message.author_id != self.principal.user_id:
                raise Forbidden("You can only edit your own messages.")
            await chats.edit_message(s, chat, message, body.content)
            removed = await chats.delete_messages_after(s, chat.id, message.seq) if body.regenerate else []
            out = MessageOut.model_validate(message)
            removed_json = [message_json(m) for m in removed]
            chat_json = session_json(chat)
        topic = [chat_topic(chat.id)]
        self.publish(topic, "message", "updated", out.model_dump(mode="json"))
        for resource in removed_json:
            self.publish(topic, "message", "deleted", resource)
        self.publish(session_topics(chat), "chat_session", "updated", chat_json)
        if body.regenerate and message.role == "user":
            await runs.regenerate(chat, self.principal)
        return out

    @endpoint("Delete a message", status=204, errors=(403, 404),
              description="Allowed to the author of a user message (with write access), a project owner, "
                          "and the owner of a personal session.")
    async def delete(self) -> None:
        async with self.db.write() as s:
            message, chat = await self.locked_message(s)
            own = message.role == "user" and message.author_id == self.principal.user_id
            if chat.project_id is not None and not own:
                if await authz.project_role(s, self.principal, chat.project_id) != "owner":
                    raise Forbidden("Only the author or a project owner may delete this message.")
            resource = message_json(message)
            await chats.delete_message(s, message.id)
        self.publish([chat_topic(chat.id)], "message", "deleted", resource)


VIEWS = [SessionsView, SessionView, MessagesView, CancelView, MessageView]
