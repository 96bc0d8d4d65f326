"""BotService: start and cancel test-case generation or coverage analysis, the one way REST and the agent's tools
do it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatsvc import authz
from chatsvc.errors import Conflict, NotFound, RateLimited, ValidationFailed
from chatsvc.security import Principal
from chatsvc.task_manager import TaskManager
from storage import agentdata
from storage import tasks as tasks_repo
from storage.db import Database

TASK_KINDS = ("test_generation", "coverage")
TASK_QUOTA_RETRY_S = 5


@dataclass(frozen=True)
class StartedTask:
    """A task just queued, with the document version it works on and how many requirements it covers."""

    task: dict[str, Any]
    document: dict[str, Any]  # {id, title, number}
    requirements: int


class BotService:
    """Check and start background work on a project's document; cancel it."""

    def __init__(self, *, db: Database, tasks: TaskManager, max_per_user: int) -> None:
        self.db = db
        self.tasks = tasks
        self.max_per_user = max_per_user

    async def start(self, principal: Principal, kind: str, project_id: str, *,
                    document_version_id: str | None = None,
                    requirement_uids: list[str] | None = None) -> StartedTask:
        """Authorize (editor), resolve the document (default: current), check the requirement ids, then queue.

        `requirement_uids` narrows test generation to those requirements; every id must be in the document
        (422 otherwise). Coverage always covers the whole document, so it takes no ids.
        """
        if kind not in TASK_KINDS:
            raise ValueError(f"unknown task kind {kind!r}")
        async with self.db.read() as s:
            await authz.require_project(s, principal, project_id, "editor")
            if await tasks_repo.unfinished_count(s, principal.user_id) >= self.max_per_user:
                raise RateLimited(TASK_QUOTA_RETRY_S, f"You have {self.max_per_user} tasks queued or running "
                                  "(the most one user may have); wait for one to finish or cancel one.")
            version = await agentdata.resolve_version(s, project_id, document_version_id)
            if version is None:
                if document_version_id:
                    raise NotFound("No such document version in this project.")
                raise Conflict("The project has no document version yet; add a requirements document first.")
            known = await agentdata.requirement_uids(s, version.id)
        count = len(known)
        params: dict[str, Any] = {"document_version_id": version.id}
        if requirement_uids:
            unknown = sorted(set(requirement_uids) - known)
            if unknown:
                raise ValidationFailed.field(["body", "requirement_uids"],
                                             f"Not in this document: {', '.join(unknown[:10])}")
            if kind == "test_generation":
                params["requirement_uids"] = list(dict.fromkeys(requirement_uids))
                count = len(params["requirement_uids"])
        task = await self.tasks.create(kind, project_id, principal.user_id, params)
        document = {"id": version.id, "title": version.title, "number": version.number}
        return StartedTask(task, document, count)

    async def cancel(self, principal: Principal, task_id: str) -> dict[str, Any]:
        """Cancel a task (editor of its project): at once when queued, at its next step when running."""
        async with self.db.read() as s:
            task = await authz.require_task(s, principal, task_id, "editor")
        data = await self.tasks.cancel(task.id)
        if data is None:
            raise NotFound("No such task.")
        return data
