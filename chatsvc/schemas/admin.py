"""Admin endpoints: the user list and changes to accounts, system stats, and the list of all tasks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictBool, field_validator

from chatsvc.schemas.common import ORM, PageQuery, Request, storable

Paging = PageQuery  # its offset is bounded: a huge one would overflow the database's integer (a 500)


class AdminUserQuery(Paging):
    """?q= matches username, email or full name (case-insensitive substring); paging as everywhere."""

    q: str = Field("", max_length=100)

    check_q = field_validator("q")(storable)


class AdminUserUpdate(Request):
    """Change an account. Every field is optional; an empty body changes nothing."""

    is_active: StrictBool | None = Field(
        None, description="false disables the account: every session and token is revoked at once")
    is_superuser: StrictBool | None = Field(None, description="only a superuser may change this")
    full_name: str | None = Field(None, max_length=200)

    check_name = field_validator("full_name")(storable)


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
    """?status= narrows the list to one status; an empty value means all."""

    status: TaskStatus | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value
