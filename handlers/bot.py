"""The bot endpoints: start test-case generation or coverage analysis as background tasks."""

from __future__ import annotations

from typing import Any

from chatsvc import authz, keys
from chatsvc.errors import Conflict, NotFound
from chatsvc.schemas.tasks import BotRequest, CoverageSyncOut, CoverageTaskOut, TaskOut, TaskStarted
from chatsvc.views import ApiView, endpoint
from storage.models import Artifact


async def start_task(view: ApiView, kind: str, body: BotRequest) -> dict[str, Any]:
    """Start `kind` through the one BotService path the agent's tools use too; return the task JSON."""
    started = await view.app[keys.SERVICES].bot.start(
        view.principal, kind, body.project_id, document_version_id=body.document_version_id,
        requirement_uids=body.requirement_uids)
    return started.task


class CoverageView(ApiView):
    path = "/bot/coverage"
    tag = "bot"

    @endpoint("Start a coverage analysis of a document version (202; watch task:{id})", body=BotRequest,
              response=TaskStarted, status=202, errors=(403, 404, 409, 429))
    async def post(self, body: BotRequest) -> TaskStarted:
        task = await start_task(self, "coverage", body)
        return TaskStarted(task_id=task["id"], task=TaskOut.model_validate(task))


class CoverageSyncView(ApiView):
    path = "/bot/coverage/sync"
    tag = "bot"

    @endpoint("Run a coverage analysis and wait for the report", body=BotRequest, response=CoverageSyncOut,
              errors=(403, 404, 409, 429))
    async def post(self, body: BotRequest) -> CoverageSyncOut:
        task = await start_task(self, "coverage", body)
        await self.app[keys.TASKS].wait(task["id"])
        async with self.db.read() as s:
            done = await authz.require_task(s, self.principal, task["id"])
            if done.status != "succeeded" or not done.result:
                raise Conflict(done.error or "The coverage analysis did not finish.")
            artifact = await s.get(Artifact, done.result["artifact_id"])
            assert artifact is not None
            return CoverageSyncOut(report=artifact.content, artifact_id=artifact.id)


class CoverageTaskView(ApiView):
    path = "/bot/coverage/{task_id}"
    tag = "bot"

    @endpoint("A coverage task, with its report once it succeeded", response=CoverageTaskOut, errors=(404,))
    async def get(self) -> CoverageTaskOut:
        async with self.db.read() as s:
            task = await authz.require_task(s, self.principal, self.match("task_id"))
            if task.kind != "coverage":
                raise NotFound("No such coverage task.")
            report = None
            if task.status == "succeeded" and task.result:
                artifact = await s.get(Artifact, task.result.get("artifact_id"))
                report = artifact.content if artifact is not None else None
            return CoverageTaskOut(task=TaskOut.model_validate(task), report=report)


class TestCasesView(ApiView):
    path = "/bot/test-cases"
    tag = "bot"

    @endpoint("Start generating test cases for a document version (202; watch task:{id})", body=BotRequest,
              response=TaskStarted, status=202, errors=(403, 404, 409, 422, 429))
    async def post(self, body: BotRequest) -> TaskStarted:
        task = await start_task(self, "test_generation", body)
        return TaskStarted(task_id=task["id"], task=TaskOut.model_validate(task))


VIEWS = [CoverageView, CoverageSyncView, CoverageTaskView, TestCasesView]
