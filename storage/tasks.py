"""Background tasks: create, claim with a lease, progress, finish, list, and start-up recovery."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Task, utcnow

ACTIVE = ("queued", "running")
SLOTS_LOCK = 0x63686174  # PostgreSQL advisory lock serialising "count the running tasks, then claim one"


async def create(session: AsyncSession, *, kind: str, project_id: str, created_by: str | None,
                 params: dict[str, Any]) -> Task:
    task = Task(kind=kind, project_id=project_id, created_by=created_by, status="queued", params=params)
    session.add(task)
    await session.flush()
    return task


async def get(session: AsyncSession, task_id: str, *, lock: bool = False) -> Task | None:
    stmt = select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def claim(session: AsyncSession, task_id: str, owner: str, lease_s: float) -> Task | None:
    """Take a queued task for this process (PostgreSQL: SKIP LOCKED, so two processes never both run it)."""
    task = await session.scalar(
        select(Task).where(Task.id == task_id, Task.status == "queued").with_for_update(skip_locked=True)
    )
    if task is None:
        return None
    now = utcnow()
    task.status = "running"
    task.lease_owner = owner
    task.lease_until = now + dt.timedelta(seconds=lease_s)
    task.started_at = now
    task.attempts += 1
    await session.flush()
    return task


async def running_count(session: AsyncSession, *, serialize: bool) -> int:
    """How many tasks run now in the whole deployment (expired leases are dead processes' and do not count).
    `serialize` (PostgreSQL) holds a transaction-scoped advisory lock first, so two processes counting then
    claiming cannot both take the last slot; SQLite's write transaction already excludes every other writer."""
    if serialize:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SLOTS_LOCK})
    return int(await session.scalar(
        select(func.count()).select_from(Task).where(Task.status == "running", Task.lease_until >= utcnow())) or 0)


async def renew_lease(session: AsyncSession, task_id: str, owner: str, lease_s: float) -> None:
    await session.execute(
        update(Task).where(Task.id == task_id, Task.lease_owner == owner, Task.status == "running")
        .values(lease_until=utcnow() + dt.timedelta(seconds=lease_s))
    )


async def unfinished_count(session: AsyncSession, user_id: str) -> int:
    """How many tasks a user started are queued or running."""
    return int(await session.scalar(
        select(func.count()).select_from(Task).where(Task.created_by == user_id,
                                                    Task.status.in_(("queued", "running")))) or 0)


async def queued_ids(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(Task.id).where(Task.status == "queued").order_by(Task.created_at)))


async def interrupt_expired(session: AsyncSession, *, owner: str | None = None,
                            every_running: bool = False) -> list[Task]:
    """Mark running tasks whose lease expired (or that this owner held; or all: `every_running`) as interrupted."""
    now = utcnow()
    cond: ColumnElement[bool] = (Task.status == "running") & (Task.lease_until < now)
    if owner is not None:
        cond = (Task.status == "running") & ((Task.lease_until < now) | (Task.lease_owner == owner))
    if every_running:
        cond = Task.status == "running"
    # Several processes sweep at once: each takes the rows no other sweep holds (PostgreSQL; SQLite has one
    # writer), and reads them afresh, so two never update one row (a versioned row would raise StaleDataError).
    rows = list(await session.scalars(select(Task).where(cond).with_for_update(skip_locked=True)
                                      .execution_options(populate_existing=True)))
    for task in rows:
        task.status = "interrupted"
        task.finished_at = now
        task.error = "The server stopped while this task was running."
    await session.flush()
    return rows


async def list_tasks(session: AsyncSession, *, project_ids: list[str] | None, status: str | None,
                     limit: int, offset: int) -> tuple[list[Task], int]:
    """Tasks of these projects (None: all), newest first."""
    cond: ColumnElement[bool] = Task.id.is_not(None)
    if project_ids is not None:
        cond = cond & Task.project_id.in_(project_ids)
    if status:
        cond = cond & (Task.status == status)
    total = await session.scalar(select(func.count()).select_from(Task).where(cond))
    rows = await session.scalars(select(Task).where(cond).order_by(Task.created_at.desc(), Task.id.desc())
                                 .limit(limit).offset(offset))
    return list(rows), int(total or 0)
