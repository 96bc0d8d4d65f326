"""Admin endpoints: the user list and changes to accounts, system stats, and the list of all tasks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from chatsvc.schemas.common import ORM, PageQuery, Request, Text

Paging = PageQuery  # its offset is bounded: a huge one would overflow the database's integer (a 500)


class AdminUserQuery(Paging):
    """?q= matches username, email or full name (case-insensitive substring); paging as everywhere."""

    q: Text = Field("", max_length=100)


class AdminUserUpdate(Request):
    """Change an account. Every field is optional; an empty body changes nothing."""

    is_active: StrictBool | None = Field(
        None, description="false disables the account: every session and token is revoked at once")
    is_superuser: StrictBool | None = Field(None, description="only a superuser may change this")
    full_name: Text | None = Field(None, max_length=200)


class ProcessStats(BaseModel):
    """One server process's live numbers, as it answered."""

    process: str = Field(description="host:pid, as in the `process` label of its /metrics")
    live_sockets: int
    active_runs: int
    running_tasks: int


class StatsOut(ORM):
    """Counts of the whole system, and live numbers summed over every server process that answered."""

    users: int
    active_users: int
    projects: int
    document_versions: int
    artifacts: int
    chat_sessions: int
    messages: int
    tasks: int = Field(description="all tasks, whatever their status")
    tasks_by_status: dict[str, int] = Field(description="status -> count; statuses without tasks are absent")
    live_sockets: int = Field(description="open websockets, all processes")
    active_runs: int = Field(description="agent runs streaming, all processes")
    running_tasks: int = Field(description="background tasks running, all processes")
    processes: list[ProcessStats] = Field(description="each process's own numbers, the answering one first")
    processes_missing: list[str] = Field(
        description="processes heard of lately that did not answer within 1.5 s (their numbers are not in "
                    "the sums)")


TaskStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]


class TaskQuery(Paging):
    """?status= narrows the list to one status; leave it out for all (an empty `?status=` is a 422, as the
    schema says: it is no status)."""

    status: TaskStatus | None = None
