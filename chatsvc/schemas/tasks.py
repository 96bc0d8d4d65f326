"""Background tasks and the bot endpoints that start them."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from chatsvc.schemas.common import ID_PATTERN, ORM, PageQuery, Request

TaskStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]


class TaskOut(ORM):
    id: str
    kind: str
    project_id: str
    created_by: str | None
    status: TaskStatus
    progress: float = Field(description="0.0 to 1.0")
    stage: str
    done: int
    total: int
    params: Any
    result: Any = Field(None, description="on success: {artifact_id, ...}")
    error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    version: int


class TaskListQuery(PageQuery):
    project_id: str | None = Field(None, pattern=ID_PATTERN)
    status: TaskStatus | None = None


class BotRequest(Request):
    project_id: str = Field(pattern=ID_PATTERN)
    document_version_id: str | None = Field(None, pattern=ID_PATTERN,
                                            description="default: the project's current version")
    requirement_uids: list[str] | None = Field(None, max_length=2000,
                                               description="only these requirements (test generation)")


class TaskStarted(BaseModel):
    task_id: str
    task: TaskOut


class CoverageSyncOut(BaseModel):
    report: dict[str, Any]
    artifact_id: str


class CoverageTaskOut(BaseModel):
    task: TaskOut
    report: dict[str, Any] | None = Field(None, description="the coverage report once the task succeeded")
