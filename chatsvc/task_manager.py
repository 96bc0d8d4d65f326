"""TaskManager: persisted background tasks with bounded concurrency, progress, cancel, leases, recovery.

A task is a row in `tasks`. Creating one commits it `queued` and publishes `task.created`; a worker
slot claims it with a lease (renewed while it runs, so with several server processes each task runs
once), runs its kind's coroutine, and ends it `succeeded` (result holds `artifact_id`), `failed`,
`cancelled` (checked between steps) or, if the server stops, `interrupted`. With several processes (a shared
bus) `concurrency` bounds the tasks running at once in the whole deployment: a task finding every slot taken
waits here, queued, and is tried again when a task ends anywhere (the bus says so) or at the next sweep.
Progress is published on `task:{id}` and `project:{id}` (at most every 100 ms, always the last) and persisted
at most once a second.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from chatsvc.events import Event, EventBus, project_topic, task_topic
from chatsvc.schemas.tasks import TaskOut
from chatsvc.shutdown import TaskSet, stop_tasks
from storage import tasks as repo
from storage.db import Database
from storage.models import Task, utcnow

log = logging.getLogger("chatsvc.task_manager")

LEASE_S = 60.0  # default; CHATSVC_TASK_LEASE_S
TASK_ENDINGS = ("task.completed", "task.failed", "task.cancelled")
CONTROL_TOPIC = "control:tasks"  # server-to-server requests; authorize_topic refuses it to every client
PUBLISH_EVERY_S = 0.1
PERSIST_EVERY_S = 1.0


class TaskCancelled(Exception):
    """Raised by check_cancel() between steps of a cancelled task."""


class TaskError(Exception):
    """A task failed for a reason the user can act on (the message is shown as the task's error)."""


def task_json(task: Task) -> dict[str, Any]:
    return TaskOut.model_validate(task).model_dump(mode="json")


@dataclass
class TaskContext:
    """What a task's coroutine gets: its row's data, progress reporting and cancellation checks."""

    manager: TaskManager
    task_id: str
    project_id: str
    created_by: str | None
    params: dict[str, Any]
    _last_publish: float = 0.0
    _last_persist: float = field(default_factory=time.monotonic)
    last: tuple[float, str, int, int] | None = None  # (progress, stage, done, total) last reported

    def check_cancel(self) -> None:
        if self.task_id in self.manager.cancel_requested:
            raise TaskCancelled()

    async def progress(self, done: int, total: int, stage: str) -> None:
        """Report progress; published (throttled) and persisted at most once a second."""
        self.check_cancel()
        now = time.monotonic()
        fraction = round(done / total, 4) if total else 0.0
        self.last = (fraction, stage, done, total)
        if now - self._last_publish >= PUBLISH_EVERY_S or done >= total:
            self._last_publish = now
            self.manager.bus.publish(
                [task_topic(self.task_id), project_topic(self.project_id)], "task.progress",
                {"task_id": self.task_id, "progress": fraction, "stage": stage, "done": done, "total": total},
            )
        if now - self._last_persist >= PERSIST_EVERY_S or done >= total:
            self._last_persist = now
            async with self.manager.db.write() as s:
                task = await repo.get(s, self.task_id, lock=True)  # (a sweep elsewhere may write it too)
                if task is not None and task.status == "running":
                    task.progress, task.stage, task.done, task.total = fraction, stage, done, total


TaskKind = Callable[[TaskContext], Awaitable[dict[str, Any]]]


class TaskManager:
    """Create, run, cancel and recover background tasks."""

    def __init__(self, *, db: Database, bus: EventBus, kinds: dict[str, TaskKind], concurrency: int,
                 lease_s: float = LEASE_S) -> None:
        self.db = db
        self.bus = bus
        self.kinds = kinds
        self.slots = asyncio.Semaphore(max(1, concurrency))
        self.lease_s = lease_s  # renewed, and expired leases swept, every third of it
        self.cluster_slots = max(1, concurrency) if bus.shared else 0  # 0: the semaphore is the only bound
        self.waiting: set[str] = set()  # tasks that found the deployment's slots taken
        self.endings = 0  # tasks ended anywhere (seen on the bus): a slot may have come free
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.running: dict[str, asyncio.Task[None]] = {}
        self.project_of: dict[str, str] = {}  # running task -> its project
        self.cancel_requested: set[str] = set()
        self._tasks = TaskSet("task manager")
        self.closing = False

    def _publish(self, task: dict[str, Any], name: str, extra: dict[str, Any] | None = None) -> None:
        data = {"task_id": task["id"], "id": task["id"], "version": task["version"], "task": task, **(extra or {})}
        self.bus.publish([task_topic(task["id"]), project_topic(task["project_id"])], name, data)

    async def create(self, kind: str, project_id: str, created_by: str | None,
                     params: dict[str, Any]) -> dict[str, Any]:
        """Persist a queued task, announce it, and schedule it."""
        if kind not in self.kinds:
            raise ValueError(f"unknown task kind {kind!r}")
        async with self.db.write() as s:
            task = task_json(await repo.create(s, kind=kind, project_id=project_id, created_by=created_by,
                                               params=params))
        self._publish(task, "task.created")
        self.schedule(task["id"])
        return task

    def schedule(self, task_id: str) -> None:
        if not self.closing and task_id not in self.running:
            self.running[task_id] = self._tasks.spawn(self._execute(task_id))

    async def _execute(self, task_id: str) -> None:
        try:
            async with self.slots:
                if self.closing:
                    return
                task = await self._claim(task_id)
                if task is None:
                    return  # cancelled while queued, another process took it, or every slot is taken
                # expire_on_commit is off: the claimed row's attributes stay readable after its transaction
                ctx = TaskContext(self, task.id, task.project_id, task.created_by, dict(task.params or {}))
                self.project_of[task.id] = task.project_id
                kind = task.kind
                started = task_json(task)
                self._publish(started, "task.progress", {"progress": 0.0, "stage": "started", "done": 0,
                                                         "total": 0})
                renew = self._tasks.spawn(self._renew(task_id))
                try:
                    result = await self.kinds[kind](ctx)
                    await self._end(ctx, "succeeded", result=result)
                except TaskCancelled:
                    await self._end(ctx, "cancelled", error="Cancelled on request.")
                except asyncio.CancelledError:
                    await self._end(ctx, "interrupted", error="The server stopped while this task was running.")
                    raise
                except TaskError as exc:
                    await self._end(ctx, "failed", error=str(exc))
                except Exception as exc:
                    log.exception("task %s failed", task_id)
                    await self._end(ctx, "failed", error=f"The task failed unexpectedly ({type(exc).__name__}).")
                finally:
                    renew.cancel()
        finally:
            self.running.pop(task_id, None)
            self.project_of.pop(task_id, None)
            self.cancel_requested.discard(task_id)

    async def _claim(self, task_id: str) -> Task | None:
        """Claim a queued task if a slot of the deployment is free; else remember it as waiting."""
        while True:
            seen = self.endings
            async with self.db.write() as s:
                if self.cluster_slots and await repo.running_count(
                        s, serialize=not self.db.sqlite) >= self.cluster_slots:
                    task = None
                else:
                    self.waiting.discard(task_id)
                    return await repo.claim(s, task_id, self.owner, self.lease_s)
            if self.endings == seen:  # no task ended meanwhile: the next ending (or sweep) tries again
                self.waiting.add(task_id)
                return task

    def _retry_waiting(self) -> None:
        for task_id in list(self.waiting):
            self.schedule(task_id)

    async def _renew(self, task_id: str) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            async with self.db.write() as s:
                await repo.renew_lease(s, task_id, self.owner, self.lease_s)

    async def _end(self, ctx: TaskContext, status: str, *, result: dict[str, Any] | None = None,
                   error: str | None = None) -> None:
        """Store the outcome, with the last progress reported (it is persisted only once a second meanwhile)."""
        async with self.db.write() as s:
            task = await repo.get(s, ctx.task_id, lock=True)  # a sweep elsewhere may be writing it too
            if task is None:
                return
            if ctx.last is not None:
                task.progress, task.stage, task.done, task.total = ctx.last
            task.status = status
            task.result = result
            task.error = error
            task.finished_at = utcnow()
            task.lease_owner = None
            if status == "succeeded":
                task.progress = 1.0
            data = task_json(task)
        name = {"succeeded": "task.completed", "cancelled": "task.cancelled"}.get(status, "task.failed")
        self._publish(data, name, {"result": result, "error": error, "status": status})

    async def cancel(self, task_id: str) -> dict[str, Any] | None:
        """Cancel a queued task at once, or ask a running one to stop at its next step."""
        async with self.db.write() as s:
            task = await repo.get(s, task_id, lock=True)
            if task is None:
                return None
            orphaned = task.status == "running" and task_id not in self.running and (
                not self.bus.shared or task.lease_until is None or task.lease_until < utcnow())
            if task.status == "queued" or orphaned:  # nobody runs it: it ends here, now
                task.status = "cancelled"
                task.finished_at = utcnow()
                task.error = "Cancelled before it started." if not orphaned else \
                    "Cancelled; the server that was running it had stopped."
                data = task_json(task)
                cancelled_now = True
            else:
                data = task_json(task)
                cancelled_now = False
        if cancelled_now:
            self._publish(data, "task.cancelled", {"status": "cancelled", "error": data["error"]})
        elif data["status"] == "running":
            if task_id in self.running:
                self.cancel_requested.add(task_id)
            else:  # another process runs it: ask it (it stops at its next step)
                self.bus.publish([CONTROL_TOPIC], "task.cancel_requested", {"task_id": task_id})
        return data

    def stop_project(self, project_id: str) -> None:
        """A project was deleted: its running tasks stop at their next step."""
        self.cancel_requested.update(t for t, p in self.project_of.items() if p == project_id)

    async def wait(self, task_id: str) -> None:
        """Wait for a task this process runs to end (used by the synchronous coverage endpoint)."""
        running = self.running.get(task_id)
        if running is not None:
            await asyncio.shield(running)

    async def recover(self) -> None:
        """Start-up: tasks a crash left `running` become interrupted — every one when this process works alone
        (no other can be running them), else those whose owner's lease expired, then the same every
        third of a lease for as long as the server runs; queued ones are scheduled."""
        await self._interrupt_orphans(every_running=not self.bus.shared)
        async with self.db.read() as s:
            queued = await repo.queued_ids(s)
        for task_id in queued:
            self.schedule(task_id)
        self._tasks.spawn(self._sweep())

    async def _interrupt_orphans(self, every_running: bool = False) -> None:
        async with self.db.write() as s:
            interrupted = [task_json(t) for t in await repo.interrupt_expired(s, every_running=every_running)]
        for task in interrupted:
            self._publish(task, "task.failed", {"status": "interrupted", "error": task["error"]})

    async def _sweep(self) -> None:
        """Interrupt tasks whose owner stopped renewing its lease (a process that crashed while others run)."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self._interrupt_orphans()
                if self.bus.shared:  # also tasks whose creator is gone before running them
                    async with self.db.read() as s:
                        self.waiting.update(await repo.queued_ids(s))
                self._retry_waiting()
            except Exception:  # the next sweep retries
                log.exception("sweeping expired task leases failed")

    def on_control(self, event: Event) -> None:
        """Bus tap: stop a task this process runs that another process was asked to cancel; when a task ends
        anywhere, try the tasks waiting for a slot again."""
        if event.name in TASK_ENDINGS and event.topic.startswith("task:"):
            self.endings += 1
            self._retry_waiting()
        elif event.topic == CONTROL_TOPIC and event.name == "task.cancel_requested":
            task_id = event.data.get("task_id")
            if task_id in self.running:
                self.cancel_requested.add(task_id)

    async def close(self) -> None:
        """Shutdown: stop running tasks; they are stored as interrupted."""
        self.closing = True
        # Running tasks store themselves as interrupted when cancelled: give them time for that write.
        await stop_tasks(list(self.running.values()), "background tasks", timeout=10.0)
        await self._tasks.stop()
