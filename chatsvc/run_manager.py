"""RunManager: chat agent runs, one active per chat session, streamed live and checkpointed.

A run's reply is an assistant message created `streaming` before the run starts. Token batches from the
worker are coalesced into `message.delta` events (at most one per 50 ms or 512 characters; `offset` is
the reply's length in Unicode code points before the delta; `produced_at` is when the model produced the
delta's oldest token, which makes the streaming latency measurable) and the text so far is checkpointed
to the database at least every second. A run ends `complete`, `cancelled` (explicit cancel only: a
disconnect never cancels), `failed` or, when the server stops, `interrupted` — the partial text is kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc.agent_pool import AgentPool
from chatsvc.deltas import DeltaClock, delta_head, delta_payload
from chatsvc.errors import Conflict, NotFound, RateLimited
from chatsvc.events import Event, EventBus, chat_topic, iso_ts, make_event, publish_resource, session_topics
from chatsvc.schemas.chat import message_json, session_json
from chatsvc.security import Principal
from chatsvc.shutdown import TaskSet
from storage import chats, checkpoints
from storage.chats import ChatHead
from storage.db import Database
from storage.models import ChatSession, new_id
from storage.scripts import run_script

CONTROL_TOPIC = "control:runs"  # server-to-server requests; authorize_topic refuses it to every client
log = logging.getLogger("chatsvc.run_manager")

COALESCE_S = 0.05
COALESCE_CHARS = 512
CHECKPOINT_S = 1.0
CHECKPOINT_GATHER_S = 0.2  # runs falling due within this window share one checkpoint transaction
CHECKPOINT_BATCH = 32
# A run falls due for a checkpoint at a delta, which may come COALESCE_S after its text arrived; the gather
# window follows: so the text is still written within CHECKPOINT_S.
CHECKPOINT_DUE_S = CHECKPOINT_S - CHECKPOINT_GATHER_S - COALESCE_S
CANCEL_GRACE_S = 3.0
RUN_QUOTA_RETRY_S = 5  # Retry-After when a user has max_runs_per_user replies going
RUN_LEASE_S = 15.0  # default; renewed every third of it. A reply whose process is gone ends within about one
RUN_ENDINGS = ("message.completed", "run.cancelled", "run.failed")  # a chat's run slot may have come free
STORED_RESULT_CHARS = 2048  # a tool result kept with its message (so "Open result" links survive a reload)


def stored_result(summary: dict[str, Any]) -> dict[str, Any]:
    """What of a tool's result the reply keeps: all of a small one; of a big one, its ids, status and error."""
    if len(json.dumps(summary, default=str)) <= STORED_RESULT_CHARS:
        return summary
    return {k: v for k, v in summary.items()
            if (k.endswith("_id") or k in ("status", "error", "kind")) and isinstance(v, str | int | float | bool)}


@dataclass
class Run:
    """One agent run: its reply message, streamed text, and the bookkeeping around it."""

    run_id: str
    chat_id: str
    project_id: str | None
    message_id: str
    principal: Principal
    manager: RunManager
    text: list[str] = field(default_factory=list)
    length: int = 0  # code points received
    published: int = 0  # code points published as deltas
    pending: list[str] = field(default_factory=list)
    pending_since: float | None = None  # when the oldest pending token was produced (time.time())
    last_flush: float = 0.0  # when the last delta was published (time.monotonic())
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    flush_slot: int | None = None  # the DeltaClock tick the next delta is booked in
    last_checkpoint: float = field(default_factory=time.monotonic)
    saved_length: int = 0  # how much of the text the last checkpoint stored
    finished: asyncio.Future[dict[str, Any]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    started: bool = False
    cancelled_by: str | None = None  # who pressed stop (a user id), for the run.cancelled event
    history: list[dict[str, str]] | None = None  # what the agent reads, when read with the send (it starts now)
    topics: tuple[str, ...] = field(init=False)  # where its events go: (chat:{id},)
    delta_prefix: str = field(init=False, repr=False)  # the constant start of its deltas' JSON

    def __post_init__(self) -> None:
        self.topics = (chat_topic(self.chat_id),)
        self.delta_prefix = delta_head(self.message_id, self.run_id)

    # --- RunListener ---------------------------------------------------------------------
    def on_tokens(self, text: str, produced_at: float | None = None) -> None:
        if not self.pending:
            self.pending_since = produced_at or time.time()
        self.text.append(text)
        self.pending.append(text)
        self.length += len(text)
        if self.length - self.published >= COALESCE_CHARS:
            self.flush()
        elif self.flush_slot is None:
            # The window counts from when the oldest pending token was produced, not from when its batch
            # reached us (the worker may have held it up to FLUSH_S), and deltas stay >= COALESCE_S apart.
            age = min(max(time.time() - (self.pending_since or 0.0), 0.0), COALESCE_S)  # clock steps: clamped
            self.manager.deltas.book(self, COALESCE_S - age, self.last_flush + COALESCE_S - time.monotonic())

    async def on_tool_call(self, name: str, args: dict[str, Any]) -> str:
        return await self.manager.execute_tool(self.run_id, name, args)

    def on_finished(self, kind: str, message: dict[str, Any]) -> None:
        if self.finished.done() or not self.manager.claim_finish(self):
            return
        final = message.get("text")
        status = {"done": "complete", "cancelled": "cancelled", "error": "failed"}.get(kind, "failed")
        self.manager.background.spawn(self.manager.finish(self, status, final, message.get("message")))

    # --- streaming -----------------------------------------------------------------------
    def flush(self) -> None:
        """Publish the pending text as one message.delta."""
        self.flush_slot = None
        if not self.pending:
            return
        text = "".join(self.pending)
        self.pending.clear()
        offset = self.published
        self.published += len(text)
        self.last_flush = time.monotonic()
        data = {"message_id": self.message_id, "run_id": self.run_id, "offset": offset, "text": text}
        produced_at = None
        if self.pending_since is not None:
            data["produced_at"] = produced_at = iso_ts(self.pending_since)
            self.pending_since = None
        self.manager.bus.publish(self.topics, "message.delta", data,
                                 payload=delta_payload(self.delta_prefix, offset, text, produced_at))
        if self.manager._checkpointer is None:  # the checkpoint ticker runs while any reply has unsaved text
            self.manager.checkpoint_soon()

    def full_text(self) -> str:
        return "".join(self.text)

    def snapshot_data(self) -> dict[str, Any]:
        """A `message.delta` from offset 0 with the text its deltas have carried so far (`snapshot: true`)."""
        text = self.full_text()
        text = text[: len(text) - len("".join(self.pending))] if self.pending else text
        return {"message_id": self.message_id, "run_id": self.run_id, "offset": 0, "text": text, "snapshot": True}


@dataclass
class SendResult:
    user_message: dict[str, Any]
    assistant_message: dict[str, Any]
    run_id: str
    created: bool


ToolRunner = Callable[[Run, str, dict[str, Any]], Awaitable[Any]]


class RunManager:
    """Start, stream, cancel and finish chat runs (DESIGN §8)."""

    def __init__(self, *, db: Database, bus: EventBus, pool: AgentPool, provider: Callable[[], dict[str, Any]],
                 tools: ToolRunner, lease_s: float = RUN_LEASE_S, max_per_user: int = 8) -> None:
        self.db = db
        self.max_per_user = max_per_user
        # Who runs a chat's active run, cluster-wide: this process, while it renews the lease (see _keep_leases).
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease_s = lease_s
        self.bus = bus
        self.pool = pool
        self.provider = provider
        self.tools = tools
        self.active: dict[str, Run] = {}  # chat id -> running run
        self.queued: dict[str, deque[Run]] = {}
        self.by_run: dict[str, Run] = {}
        self._finishing: set[str] = set()
        self.background = TaskSet("run manager")
        self._lease_keeper = TaskSet("run leases")  # runs for the manager's life: not counted as run work
        self._checkpointer: asyncio.Task[Any] | None = None
        self.deltas = DeltaClock()  # one timer for every run's next delta
        self.closing = False

    # --- checkpoints ----------------------------------------------------------------------------
    def checkpoint_soon(self) -> None:
        """Make sure the checkpoint ticker runs (one task for all runs; it stops when no text is unsaved)."""
        if self._checkpointer is None:
            self._checkpointer = self.background.spawn(self._write_checkpoints())

    def _unsaved(self) -> list[Run]:
        return [run for run in self.by_run.values() if run.length > run.saved_length]

    async def _write_checkpoints(self) -> None:
        """Every CHECKPOINT_GATHER_S, write the partial text of every run whose unsaved text is about to be a
        second old, all in one transaction (batches of CHECKPOINT_BATCH).

        A ticker, not a trigger on the next token: a reply that pauses after some text (a slow model, a tool
        call) still has it stored within the second, so a crash loses at most the last second. Batches instead
        of one transaction per run: with 64 runs streaming, per-run transactions (session, BEGIN IMMEDIATE,
        COMMIT and their hand-offs) were the largest cost of runs on the loop. Batches stay bounded so that
        other writers wait behind one short transaction at most; each is one executemany UPDATE
        (storage.checkpoints).
        """
        try:
            while self._unsaved():
                await asyncio.sleep(CHECKPOINT_GATHER_S)
                now = time.monotonic()
                due = sorted((run for run in self._unsaved() if now - run.last_checkpoint >= CHECKPOINT_DUE_S),
                             key=lambda r: r.chat_id)  # one lock order for all writers
                for start in range(0, len(due), CHECKPOINT_BATCH):
                    await self._checkpoint(due[start:start + CHECKPOINT_BATCH])
        finally:
            self._checkpointer = None

    async def _checkpoint(self, batch: list[Run]) -> None:
        now = time.monotonic()
        texts = []
        for run in batch:
            run.last_checkpoint = now
            run.saved_length = run.length
            texts.append((run.message_id, run.full_text()))
        # Every write to a chat's messages locks the chat first: a row lock on PostgreSQL (SQLite's BEGIN
        # IMMEDIATE already excludes every other writer). The texts go in one executemany UPDATE (only rows
        # still `streaming`), the whole transaction one script: an ORM read and flush per run cost more than
        # the rest of streaming together.
        locks = [] if self.db.sqlite else [run.chat_id for run in batch]
        try:
            await run_script(self.db, checkpoints.save_steps(texts, locks))
        except Exception:  # a failed checkpoint is retried at the next one
            log.exception("checkpoint of %d runs failed", len(texts))

    def claim_finish(self, run: Run) -> bool:
        """Claim the right to finish a run; False when someone else already claimed it (finish happens once)."""
        if run.run_id in self._finishing:
            return False
        self._finishing.add(run.run_id)
        return True

    # --- sending ----------------------------------------------------------------------------
    async def send(self, chat: ChatHead | ChatSession, principal: Principal, content: str, client_msg_id: str | None,
                   if_busy: str = "reject", recheck: chats.Recheck | None = None) -> SendResult:
        """Store the user's message and its reply placeholder, then start (or queue) the run. `recheck`: the
        rights checked again in the send's transaction (chats.NotAllowed when they no longer hold)."""
        if client_msg_id and (chat.id in self.active or self.queued.get(chat.id)):
            # A retry of the send that is streaming gets its first result, not run_active. In a chat that is
            # not busy, the unique (session, client_msg_id) index catches a retry at the insert below (one
            # read transaction less per run).
            existing = await self._existing(chat.id, client_msg_id)
            if existing is not None:
                return existing
        if self._busy_here(chat.id):
            if if_busy == "reject":
                raise Conflict("A reply is still being written in this chat.", code="run_active")
            if if_busy == "interrupt":
                await self.cancel(chat.id, wait=True, drop_queue=True)
        run_id = new_id()
        claim = not self._busy_here(chat.id)  # else it queues behind this process's run, which hands it over
        # One active run per chat for the whole cluster: the chat row says which run holds it and until when
        # its process vouches for it. Claimed in the transaction that stores the messages (storage.scripts:
        # on SQLite the whole send is one trip to the database's thread).
        steps = chats.send_steps(chat.id, content, principal.user_id, run_id, client_msg_id, claim=claim,
                                 reject_if_busy=if_busy == "reject", owner=self.owner, lease_s=self.lease_s,
                                 runs_of_user=self._runs_of(principal), max_runs=self.max_per_user,
                                 count_elsewhere=self.bus.shared, recheck=recheck)
        try:
            sent = await run_script(self.db, steps)
        except chats.RunQuotaReached:
            raise self._quota_error() from None
        except (IntegrityError, chats.ChatBusy) as exc:
            # A retry of a send (same client_msg_id) gets its first result, also when its reply streams in
            # another process (then the chat's claim failed before the duplicate insert could).
            existing = await self._existing(chat.id, client_msg_id) if client_msg_id else None
            if existing is not None:
                return existing
            if isinstance(exc, chats.ChatBusy):
                raise Conflict("A reply is still being written in this chat.", code="run_active") from None
            raise
        except LookupError:
            raise NotFound("No such chat session.") from None
        claimed, history = sent.claimed, sent.history
        relay_interrupt = claim and not claimed and if_busy == "interrupt"  # a run on another process holds it
        user_json, reply_json = message_json(sent.user), message_json(sent.reply)
        renamed_json = session_json(sent.renamed) if sent.renamed is not None else None
        run = Run(run_id, chat.id, chat.project_id, reply_json["id"], principal, self, history=history)
        self.by_run[run_id] = run
        topic = [chat_topic(chat.id)]
        if renamed_json is not None and renamed_json["title"] != chats.DEFAULT_TITLE:
            publish_resource(self.bus, session_topics(chat), "chat_session", "updated", renamed_json,
                             principal.user_id)
        publish_resource(self.bus, topic, "message", "created", user_json, principal.user_id)
        publish_resource(self.bus, topic, "message", "created", reply_json, principal.user_id)
        self._start_or_queue(run, claimed)
        if relay_interrupt:  # ask the other processes to stop the chat's run and queue; ours starts next
            await self._relay_cancel(chat.id, drop_queue=True, keep_run_id=run_id)
        return SendResult(user_json, reply_json, run_id, True)

    def _runs_of(self, principal: Principal) -> int:
        """The user's replies streaming or queued in this process."""
        return sum(1 for run in self.by_run.values() if run.principal.user_id == principal.user_id)

    def _quota_error(self) -> RateLimited:
        return RateLimited(RUN_QUOTA_RETRY_S, f"You have {self.max_per_user} replies streaming or queued; wait "
                                              "for one to finish (or stop one) before asking for more.")

    async def _check_quota(self, s: AsyncSession, principal: Principal) -> None:
        """At most max_per_user replies of one user streaming or queued at once: this process's from memory,
        other processes' active ones from the chats they hold (in the transaction that would add one more)."""
        mine = self._runs_of(principal)
        if mine < self.max_per_user and self.bus.shared:
            mine += await chats.active_runs_started_by(s, principal.user_id, other_than=self.owner)
        if mine >= self.max_per_user:
            raise self._quota_error()

    def _busy_here(self, chat_id: str) -> bool:
        return chat_id in self.active or bool(self.queued.get(chat_id))

    async def regenerate(self, chat: ChatHead | ChatSession, principal: Principal) -> Run:
        """Answer the chat's last user message again with a new run (after an edit)."""
        if chat.id in self.active or self.queued.get(chat.id):
            await self.cancel(chat.id, wait=True, drop_queue=True)
        run_id = new_id()
        async with self.db.write() as s:
            await self._check_quota(s, principal)
            claimed = not self._busy_here(chat.id) and await chats.claim_run(
                s, chat.id, run_id, self.owner, self.lease_s)
            prompt = await chats.relink_last_prompt(s, chat.id, run_id)  # the prompt knows its reply's run
            reply = await chats.add_message(s, chat.id, "assistant", "", None, status="streaming", run_id=run_id)
            reply_json = message_json(reply)
            prompt_json = message_json(prompt) if prompt is not None else None
        run = Run(run_id, chat.id, chat.project_id, reply_json["id"], principal, self)
        self.by_run[run_id] = run
        if prompt_json is not None:
            publish_resource(self.bus, [chat_topic(chat.id)], "message", "updated", prompt_json, principal.user_id)
        publish_resource(self.bus, [chat_topic(chat.id)], "message", "created", reply_json, principal.user_id)
        self._start_or_queue(run, claimed)
        return run

    def _start_or_queue(self, run: Run, claimed: bool) -> None:
        """Start a run that claimed its chat, else queue it: behind this process's active run (which hands the
        chat over when it ends), or behind another process's (claimed when that one ends: _claim_waiting)."""
        if claimed and run.chat_id not in self.active:
            self.active[run.chat_id] = run
            self.background.spawn(self._start(run))
        else:
            run.history = None  # it starts later: it reads the chat as it is then
            self.queued.setdefault(run.chat_id, deque()).append(run)

    async def _existing(self, chat_id: str, client_msg_id: str) -> SendResult | None:
        async with self.db.read() as s:
            user = await chats.find_by_client_msg_id(s, chat_id, client_msg_id)
            if user is None:
                return None
            reply = None
            for message in await chats.history(s, chat_id):
                if message.role == "assistant" and message.run_id == user.run_id:
                    reply = message
            return SendResult(message_json(user), message_json(reply) if reply else {}, user.run_id or "", False)

    async def _start(self, run: Run) -> None:
        """Load the history the agent sees (from the database: edits and deletes count) and hand it over."""
        try:
            history, run.history = run.history, None
            if history is None:  # queued: what the chat holds now (edits and deletes since count)
                async with self.db.read() as s:
                    history = await chats.agent_history(s, run.chat_id, leaving_out=run.message_id)
            run.started = True
            self.bus.publish([chat_topic(run.chat_id)], "run.started",
                             {"run_id": run.run_id, "message_id": run.message_id})
            await self.pool.start_run(run.run_id, {"history": history, "provider": self.provider()}, run)
        except Exception as exc:
            log.exception("could not start run %s", run.run_id)
            if self.claim_finish(run):
                await self.finish(run, "failed", None, f"The agent could not start: {exc}")

    # --- tools ------------------------------------------------------------------------------
    async def execute_tool(self, run_id: str, name: str, args: dict[str, Any]) -> str:
        """Run a tool for a run with its caller's permissions, publishing tool.call and tool.result."""
        from agent.tools import tool_result

        run = self.by_run.get(run_id)
        if run is None:
            return tool_result({"error": "This run is over."})
        topic = [chat_topic(run.chat_id)]
        run.flush()  # keep text and tool events in the order they happened
        self.bus.publish(topic, "tool.call", {"run_id": run_id, "message_id": run.message_id, "name": name,
                                              "args": args})
        result = await self.tools(run, name, args)
        summary = result if isinstance(result, dict) else {"result": result}
        run.tool_calls.append({"name": name, "args": args, "ok": "error" not in summary,
                               "result": stored_result(summary)})
        self.bus.publish(topic, "tool.result", {"run_id": run_id, "message_id": run.message_id, "name": name,
                                                "result": summary})
        return tool_result(result)

    # --- ending -----------------------------------------------------------------------------
    async def finish(self, run: Run, status: str, final_text: str | None, error: str | None = None) -> None:
        """Store the reply's final text and status, publish the ending, and start the next queued run."""
        run.flush()
        run.saved_length = run.length  # the final write below stores the text: no checkpoint of it is owed
        text = final_text if final_text else run.full_text()
        if len(text) > run.published:  # the worker's final text may hold a tail we never streamed
            run.pending.append(text[run.published:])
            run.flush()
        queue = self.queued.get(run.chat_id)
        nxt = queue[0] if queue and not self.closing and self.active.get(run.chat_id) is run else None
        handed = False
        try:
            # The chat goes to this process's next queued run, or comes free for any process.
            row, handed = await run_script(self.db, chats.finish_steps(
                run.chat_id, run.message_id, run.run_id, lock=not self.db.sqlite, content=text, status=status,
                error=error if status == "failed" else None, tool_calls=run.tool_calls or None,
                cancelled_by=run.cancelled_by if status == "cancelled" else None, owner=self.owner,
                lease_s=self.lease_s, next_run_id=nxt.run_id if nxt else None))
            reply = message_json(row) if row is not None else None
        except Exception:
            log.exception("could not store the end of run %s", run.run_id)
            reply = None
        topic = [chat_topic(run.chat_id)]
        base = {"run_id": run.run_id, "message_id": run.message_id}
        if reply is not None:
            if status == "complete":
                self.bus.publish(topic, "message.completed", {**base, "length": len(text), "message": reply})
            elif status == "cancelled":
                self.bus.publish(topic, "run.cancelled", {**base, "message": reply, "cancelled_by": run.cancelled_by})
            else:
                self.bus.publish(topic, "run.failed", {**base, "error": error or status, "message": reply})
        if not run.finished.done():
            run.finished.set_result(reply or {})
        self.by_run.pop(run.run_id, None)
        if self.active.get(run.chat_id) is run:
            del self.active[run.chat_id]
        queue = self.queued.get(run.chat_id)
        if handed and queue and queue[0] is nxt and nxt is not None:
            queue.popleft()
            if not queue:
                del self.queued[run.chat_id]
            self.active[run.chat_id] = nxt
            self.background.spawn(self._start(nxt))
            return
        if handed and nxt is not None:  # the run it went to was cancelled meanwhile: free the chat again
            self.background.spawn(self._release(run.chat_id, nxt.run_id))
        if queue and run.chat_id not in self.active and not self.closing:
            self.background.spawn(self._claim_waiting(run.chat_id))  # not handed over: claim it like any process

    async def cancel(self, chat_id: str, *, wait: bool = False, drop_queue: bool = False,
                     relay: bool = True, keep_run_id: str | None = None, by: str | None = None) -> str | None:
        """Stop the chat's active run (partial text kept, status cancelled); return its run id.

        With several processes (a shared event bus) the run may live in another one: then the request is
        relayed on the internal `control:runs` topic, which every process taps and no client may subscribe to.
        """
        if drop_queue:
            await self._drop_queue(chat_id, keep_run_id)
        run = self.active.get(chat_id)
        if run is None:
            if relay and self.bus.shared:
                return await self._relay_cancel(chat_id, by=by)
            return None
        run.cancelled_by = run.cancelled_by or by
        self.pool.cancel(run.run_id)
        self.background.spawn(self._cancel_fallback(run))
        if wait:
            await asyncio.shield(run.finished)
        return run.run_id

    async def cancel_run(self, chat_id: str, run_id: str) -> None:
        """Stop one reply — streaming, or waiting in a queue — wherever it runs, and wait (a bounded time)
        until it has ended."""
        run = self.active.get(chat_id)
        if run is not None and run.run_id == run_id:
            await self.cancel(chat_id, wait=True)
            return
        queue = self.queued.get(chat_id, deque())
        queued = next((r for r in queue if r.run_id == run_id), None)
        if queued is not None:
            queue.remove(queued)
            if not queue:
                self.queued.pop(chat_id, None)
            if self.claim_finish(queued):
                await self.finish(queued, "cancelled", "")
            return
        if not self.bus.shared:
            return
        self.bus.publish([CONTROL_TOPIC], "run.cancel_requested", {"chat_id": chat_id, "only_run": run_id})
        deadline = time.monotonic() + CANCEL_GRACE_S + 1
        while time.monotonic() < deadline:  # the process running or queueing it ends it and stores that
            await asyncio.sleep(0.1)
            async with self.db.read() as s:
                if await chats.run_status(s, chat_id, run_id) != "streaming":
                    return

    async def _drop_queue(self, chat_id: str, keep_run_id: str | None) -> None:
        """Cancel this process's queued replies of a chat (all but `keep_run_id`)."""
        queue = self.queued.pop(chat_id, deque())
        kept = deque(run for run in queue if run.run_id == keep_run_id)
        if kept:
            self.queued[chat_id] = kept
        for queued in queue:
            if queued.run_id != keep_run_id and self.claim_finish(queued):
                await self.finish(queued, "cancelled", "")

    async def _relay_cancel(self, chat_id: str, *, drop_queue: bool = False,
                            keep_run_id: str | None = None, by: str | None = None) -> str | None:
        """Ask the process streaming this chat's reply (per the database) to stop it — and, for an interrupt,
        every process to drop the replies it queued in the chat but `keep_run_id` — and return that run's id."""
        async with self.db.read() as s:  # the run holding the chat (queued replies wait behind it)
            run_id: str | None = await s.scalar(select(ChatSession.run_id).where(ChatSession.id == chat_id))
        if run_id is None and not drop_queue:
            return None
        self.bus.publish([CONTROL_TOPIC], "run.cancel_requested",
                         {"chat_id": chat_id, "run_id": run_id, "drop_queue": drop_queue, "keep_run_id": keep_run_id,
                          "by": by})
        return run_id

    def on_control(self, event: Event) -> None:
        """Bus tap (every event of every process): stop a local run (and, for an interrupt, drop the replies
        queued here) when another process was asked to; send the text so far of a local run another process's
        new subscriber asked for; when a run ends anywhere, start the run this process queued behind it if it
        is first in line."""
        if event.topic == CONTROL_TOPIC:
            chat_id = event.data.get("chat_id", "")
            only_run = event.data.get("only_run")
            if event.name == "run.cancel_requested" and only_run:
                mine = self.active.get(chat_id)
                if (mine is not None and mine.run_id == only_run) or any(
                        r.run_id == only_run for r in self.queued.get(chat_id, ())):
                    self.background.spawn(self.cancel_run(chat_id, str(only_run)))
            elif event.name == "run.cancel_requested" and (chat_id in self.active or event.data.get("drop_queue")):
                self.background.spawn(self.cancel(chat_id, relay=False, drop_queue=bool(event.data.get("drop_queue")),
                                                  keep_run_id=event.data.get("keep_run_id"), by=event.data.get("by")))
            elif event.name == "run.snapshot_requested" and chat_id in self.active:
                self._publish_snapshot(self.active[chat_id])
            return
        if not event.topic.startswith("chat:") or event.name == "message.delta":
            return
        chat_id = event.topic[5:]
        if event.name in RUN_ENDINGS:
            if self.queued.get(chat_id) and chat_id not in self.active and not self.closing:
                self.background.spawn(self._claim_waiting(chat_id))

    def _publish_snapshot(self, run: Run) -> None:
        """For a subscriber on another process: the reply's text so far, as a `message.delta` from offset 0
        with `snapshot: true`, published on the chat topic (so it is ordered with the live deltas: what was
        published before it is in it, what follows continues from its end; a client that has the text
        already just replaces it with the same)."""
        if run.started and run.published:
            self.bus.publish(run.topics, "message.delta", run.snapshot_data())

    async def _cancel_fallback(self, run: Run) -> None:
        """End a run as cancelled ourselves if the worker does not confirm in time."""
        try:
            async with asyncio.timeout(CANCEL_GRACE_S):  # not wait_for: on 3.11 it can swallow our own cancel
                await asyncio.shield(run.finished)
        except TimeoutError:
            if self.claim_finish(run):
                await self.finish(run, "cancelled", None)

    # --- live snapshots, recovery, shutdown -------------------------------------------------
    def snapshot(self, topic: str, position: tuple[str, int]) -> list[Event]:
        """For a new chat subscriber: the streaming reply's text so far, as one delta from offset 0, at the
        position its subscribe result told it (`position`: later events may already wait for it, held back by
        a shared bus, and must not share their seq with the snapshot). When the reply streams in another
        process, that process is asked for it and publishes it on the topic."""
        if not topic.startswith("chat:"):
            return []
        run = self.active.get(topic[5:])
        if run is None:
            if self.bus.shared:  # it may stream in another process (started before this one, even)
                self.bus.publish([CONTROL_TOPIC], "run.snapshot_requested", {"chat_id": topic[5:]})
            return []
        if not run.started or run.published == 0:
            return []
        epoch, seq = position
        return [make_event(topic, seq, epoch, "message.delta", time.time(), run.snapshot_data())]

    async def recover(self) -> int:
        """Start-up: replies whose process is gone become interrupted. Alone on its database (no shared bus),
        every reply left streaming is this process's own from before a crash; with other processes, only those
        of runs whose lease expired (a rolling restart never touches a healthy process's replies). Then the
        leases are kept (see _keep_leases)."""
        if self.bus.shared:
            count = await self.sweep()
        else:
            async with self.db.write() as s:
                count = len(await chats.interrupt_streaming(s))
        self._lease_keeper.spawn(self._keep_leases())
        return count

    async def _keep_leases(self) -> None:
        """Every third of a lease: renew the leases of this process's runs, interrupt the replies of processes
        that are gone, and claim the chats this process's queued runs wait for."""
        while not self.closing:
            await asyncio.sleep(self.lease_s / 3)
            try:
                if self.active:
                    async with self.db.write() as s:
                        await chats.renew_runs(s, self.owner, [run.run_id for run in self.active.values()],
                                               self.lease_s)
                if self.bus.shared:
                    await self.sweep()
                for chat_id in [c for c, q in self.queued.items() if q and c not in self.active]:
                    await self._claim_waiting(chat_id)
            except Exception:  # the database may be away for a moment: try again next time
                log.exception("keeping run leases failed")

    async def sweep(self) -> int:
        """Interrupt the replies of runs whose process stopped renewing their lease (crashed, killed, cut off),
        and those queued by a process that is gone; publish their end as `run.failed` (error `interrupted`)."""
        async with self.db.write() as s:
            rows = await chats.interrupt_abandoned(s, grace_s=self.lease_s, keep_runs=set(self.by_run))
            ended = [message_json(m) for m in rows]
        for reply in ended:
            self.bus.publish([chat_topic(reply["session_id"])], "run.failed",
                             {"run_id": reply["run_id"], "message_id": reply["id"], "error": "interrupted",
                              "message": reply})
        return len(ended)

    async def _release(self, chat_id: str, run_id: str) -> None:
        async with self.db.write() as s:
            await chats.release_run(s, chat_id, run_id)

    async def _claim_waiting(self, chat_id: str) -> None:
        """Start this process's first queued run of a chat if the chat is free (its run on another process
        ended, or that process is gone)."""
        queue = self.queued.get(chat_id)
        if not queue or chat_id in self.active or self.closing:
            return
        nxt = queue[0]
        async with self.db.write() as s:
            claimed = await chats.claim_run(s, chat_id, nxt.run_id, self.owner, self.lease_s)
        queue = self.queued.get(chat_id)
        if not claimed or not queue or queue[0] is not nxt or chat_id in self.active:
            if claimed and (not queue or queue[0] is not nxt):  # it was cancelled meanwhile: free the chat again
                await self._release(chat_id, nxt.run_id)
            return
        queue.popleft()
        if not queue:
            del self.queued[chat_id]
        self.active[chat_id] = nxt
        self.background.spawn(self._start(nxt))

    async def close(self) -> None:
        """Shutdown: stop every run, keeping partial text as interrupted."""
        self.closing = True
        runs = list(self.active.values()) + [r for q in self.queued.values() for r in q]
        self.queued.clear()
        for run in runs:
            if self.claim_finish(run):
                self.pool.cancel(run.run_id)
                await self.finish(run, "interrupted", None)
        await self._lease_keeper.stop()
        await self.background.stop()
        self.deltas.stop()

    def stop_project(self, project_id: str) -> None:
        """A project was deleted: stop its chats' runs (their messages went with it)."""
        for chat_id in [c for c, run in self.active.items() if run.project_id == project_id]:
            self.background.spawn(self.cancel(chat_id, drop_queue=True))

    def active_count(self) -> int:
        return len(self.active)

