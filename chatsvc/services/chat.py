"""ChatService: every chat command, end to end, for REST, websocket ops, SSE and the client alike.

Each command authorizes fully before any side effect (a refused caller changes nothing, not even a running
reply), then runs one transaction, then publishes after commit, then starts or stops runs. The views and
socket ops only translate requests into these calls and results into answers.

Who may do what (authz.require_chat_session decides visibility; a caller who may not see a chat gets 404):
- personal session: only its owner sees and changes it (a superuser too);
- project session: members read; editors and owners write (post, rename, cancel, edit own messages).
  Deleting it: a project owner, or its creator while still editor or above.
- messages: the author edits their own user message; assistant messages are never edited (403).
  Deleting one: its author (user messages, with write access), a project owner, or the personal session's owner.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz
from chatsvc.errors import Conflict, Forbidden, NotFound
from chatsvc.events import EventBus, chat_topic, publish_resource, session_topics
from chatsvc.run_manager import RunManager, SendResult
from chatsvc.schemas.chat import message_json, session_json
from chatsvc.security import Principal
from storage import chats
from storage.chats import ChatHead
from storage.db import Database
from storage.models import ChatMessage, ChatSession

CHAT_HEADS_KEPT = 4096


class ChatService:
    """Chat sessions and messages: create, rename, delete, send, cancel, edit (and regenerate)."""

    def __init__(self, *, db: Database, bus: EventBus, runs: RunManager) -> None:
        self.db = db
        self.bus = bus
        self.runs = runs
        self._heads: dict[str, ChatHead] = {}  # chats posted in lately (send's pre-check)

    def _publish(self, principal: Principal, topics: list[str], kind: str, action: str,
                 resource: dict[str, Any]) -> None:
        publish_resource(self.bus, topics, kind, action, resource, actor=principal.user_id)

    # --- sessions -----------------------------------------------------------------------------
    async def create_session(self, principal: Principal, *, title: str | None,
                             project_id: str | None) -> dict[str, Any]:
        """Start a personal chat (needs `chat.use`) or a project chat (needs editor)."""
        async with self.db.write() as s:
            if project_id is not None:
                await authz.require_project(s, principal, project_id, need="editor")
            else:
                await authz.require_permission(s, principal, "chat.use")
            chat = await chats.create_session(s, owner_id=principal.user_id, project_id=project_id, title=title)
            out = session_json(chat)
        self._publish(principal, session_topics(chat), "chat_session", "created", out)
        return out

    async def rename_session(self, principal: Principal, chat_id: str, title: str) -> dict[str, Any]:
        async with self.db.write() as s:
            chat = await self._locked_chat(s, principal, chat_id, write=True)
            chat.title = title
            await s.flush()
            out = session_json(chat)
        self._publish(principal, session_topics(chat), "chat_session", "updated", out)
        return out

    async def delete_session(self, principal: Principal, chat_id: str) -> None:
        async with self.db.write() as s:
            chat = await self._locked_chat(s, principal, chat_id, write=False)
            if chat.project_id is not None:
                role = await authz.project_role(s, principal, chat.project_id) or "viewer"
                creator = chat.owner_id == principal.user_id
                if role != "owner" and not (creator and authz.ROLE_RANK[role] >= authz.ROLE_RANK["editor"]):
                    raise Forbidden("Only a project owner or the chat's creator (editor or above) may delete it.")
            resource = session_json(chat)
            await chats.delete_session(s, chat.id)
        self._publish(principal, session_topics(chat), "chat_session", "deleted", resource)

    @staticmethod
    async def _locked_chat(s: AsyncSession, principal: Principal, chat_id: str, *, write: bool) -> ChatSession:
        """Authorize on the session, then lock it for this write transaction."""
        chat = await authz.require_chat_session(s, principal, chat_id, write=write)
        locked = await chats.lock_session(s, chat.id)
        if locked is None:  # deleted meanwhile
            raise NotFound("No such chat session.")
        return locked

    # --- runs ---------------------------------------------------------------------------------
    async def writable_chat(self, principal: Principal, chat_id: str) -> ChatHead:
        """The chat, when the caller may post in it (404 when they may not see it, 403 when only read); a
        personal chat also needs `chat.use` still, at every message, not only when it was started."""
        async with self.db.read() as s:
            chat = await authz.require_chat_head(s, principal, chat_id, write=True)
            if chat.project_id is None:
                await authz.require_permission(s, principal, "chat.use")
            return chat

    async def send(self, principal: Principal, chat_id: str, content: str, client_msg_id: str | None,
                   if_busy: str = "reject") -> SendResult:
        """Post a message (idempotent by client_msg_id) and start, queue or interrupt for the agent's reply.

        The rights are decided in the send's own write transaction (chats.Recheck), so the check before it
        may answer from what this process knows (the chat's owner and project never change; a cached role)
        and costs no database trip; only when that does not already allow it is the chat read and authorized
        here, with the answers REST gives (404 for a chat the caller may not see, 403 for a viewer)."""
        chat = self._heads.get(chat_id)
        if chat is None or not authz.chat_writable_from_cache(principal, chat):
            chat = await self.writable_chat(principal, chat_id)
            self._remember_head(chat)
        try:
            return await self.runs.send(chat, principal, content, client_msg_id, if_busy,
                                        recheck=self._recheck(principal, chat))
        except chats.NotAllowed as refused:
            if refused.permission is not None:
                raise Forbidden(f"This needs the '{refused.permission}' permission.") from None
            raise authz.chat_write_refusal(refused.role) from None

    @staticmethod
    def _recheck(principal: Principal, chat: ChatHead) -> chats.Recheck | None:
        """What a send re-checks in its transaction: an editor's role for a project chat, `chat.use` for a
        personal one (a superuser holds every right)."""
        if principal.is_superuser:
            return None
        if chat.project_id is not None:
            return chats.Recheck(project_id=chat.project_id, roles=authz.CHAT_WRITER_ROLES)
        return chats.Recheck(permission="chat.use")

    def _remember_head(self, chat: ChatHead) -> None:
        """Keep a chat's id, project and owner (they never change; a title kept here may be out of date and is
        not used). A deleted chat's entry is harmless: its send finds no chat and answers 404."""
        if len(self._heads) >= CHAT_HEADS_KEPT:
            del self._heads[next(iter(self._heads))]  # the oldest
        self._heads[chat.id] = chat

    async def cancel(self, principal: Principal, chat_id: str, *, drop_queue: bool = False) -> str | None:
        """Stop the chat's active run (its partial text is kept as cancelled); return its run id, if any."""
        await self.writable_chat(principal, chat_id)
        return await self.runs.cancel(chat_id, drop_queue=drop_queue, by=principal.user_id)

    # --- messages -----------------------------------------------------------------------------
    async def edit_message(self, principal: Principal, message_id: str, content: str,
                           regenerate: bool) -> dict[str, Any]:
        """Edit your own user message; with `regenerate`, replace every later message with a new reply."""
        async with self.db.read() as s:  # every check first: a refused edit must not stop a running reply
            message, _chat = await self._writable_message(s, principal, message_id)
            self._check_editable(principal, message)
        if regenerate:
            await self.runs.cancel(message.session_id, wait=True, drop_queue=True)
        async with self.db.write() as s:
            message, chat = await self._writable_message(s, principal, message_id, lock=True)
            self._check_editable(principal, message)  # again: the role may have changed meanwhile
            await chats.edit_message(s, chat, message, content)
            removed = await chats.delete_messages_after(s, chat.id, message.seq) if regenerate else []
            out = message_json(message)
            removed_json = [message_json(m) for m in removed]
            chat_json = session_json(chat)
        topic = [chat_topic(chat.id)]
        self._publish(principal, topic, "message", "updated", out)
        for resource in removed_json:
            self._publish(principal, topic, "message", "deleted", resource)
        self._publish(principal, session_topics(chat), "chat_session", "updated", chat_json)
        if regenerate:
            await self.runs.regenerate(chat, principal)
        return out

    async def delete_message(self, principal: Principal, message_id: str) -> None:
        """Delete a message; deleting a prompt deletes its reply too (stopping it first if it is still being
        written or waits in a queue), so no reply is left answering nothing."""
        async with self.db.read() as s:  # every check first: a refused delete must not stop a reply
            message, chat = await self._writable_message(s, principal, message_id)
            await self._check_deletable(s, principal, message, chat)
            unfinished = [r.run_id for r in await chats.replies_to(s, message) if r.status == "streaming"]
        for run_id in unfinished:
            if run_id:
                await self.runs.cancel_run(chat.id, run_id)
        async with self.db.write() as s:
            message, chat = await self._writable_message(s, principal, message_id, lock=True)
            await self._check_deletable(s, principal, message, chat)  # again: the role may have changed
            going = [message, *await chats.replies_to(s, message)]
            if any(m.status == "streaming" for m in going[1:]):
                raise Conflict("The reply to this message could not be stopped yet; try again in a moment.",
                               code="run_active")
            resources = [message_json(m) for m in going]
            for m in going:
                await chats.delete_message(s, m.id)
        for resource in resources:
            self._publish(principal, [chat_topic(chat.id)], "message", "deleted", resource)

    @staticmethod
    async def _check_deletable(s: AsyncSession, principal: Principal, message: ChatMessage,
                               chat: ChatSession) -> None:
        own = message.role == "user" and message.author_id == principal.user_id
        if chat.project_id is not None and not own:
            if await authz.project_role(s, principal, chat.project_id) != "owner":
                raise Forbidden("Only the author or a project owner may delete this message.")

    @staticmethod
    def _check_editable(principal: Principal, message: ChatMessage) -> None:
        if message.role != "user":
            raise Forbidden("Assistant messages cannot be edited.")
        if message.author_id != principal.user_id:
            raise Forbidden("You can only edit your own messages.")

    @staticmethod
    async def _writable_message(s: AsyncSession, principal: Principal, message_id: str, *,
                                lock: bool = False) -> tuple[ChatMessage, ChatSession]:
        """A message in a chat the caller may write in (404 hides invisible ones); `lock` locks its chat."""
        message = await chats.get_message(s, message_id)
        if message is None:
            raise NotFound("No such message.")
        try:
            chat = await authz.require_chat_session(s, principal, message.session_id, write=True)
        except NotFound:
            raise NotFound("No such message.") from None
        if not lock:
            return message, chat
        locked = await chats.lock_session(s, chat.id)
        message = await chats.get_message(s, message_id, refresh=True)
        if locked is None or message is None:  # deleted meanwhile
            raise NotFound("No such message.")
        return message, locked
