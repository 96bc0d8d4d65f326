"""The bot endpoints: start test-case generation or coverage analysis as background tasks."""

from __future__ import annotations

from typing import Any

from chatsvc import authz, keys
from chatsvc.errors import Conflict, NotFound, ValidationFailed
from chatsvc.schemas.tasks import BotRequest, CoverageSyncOut, CoverageTaskOut, TaskOut, TaskStarted
from chatsvc.views import ApiView, endpoint
from handlers.tasks import load_task
from storage import agentdata
from storage.models import Artifact


async def start_task(view: ApiView, kind: str, body: BotRequest) -> dict[str, Any]:
    """Check the caller may start work in the project and that there is a document to work on; start it."""
    async with view.db.read() as s:
        await authz.require_project(s, view.principal, body.project_id, "editor")
        version = await agentdata.resolve_version(s, body.project_id, body.document_version_id)
        if version is None:
            if body.document_version_id:
                raise NotFound("No such document version in this project.")
            raise Conflict("The project has no document version yet; add a requirements document first.")
        if body.requirement_uids:
            known = {r["uid"] for r in await agentdata.requirements_of(s, version.id)}
            unknown = sorted(set(body.requirement_uids) - known)
            if unknown:
                raise ValidationFailed.field(["body", "requirement_uids"],
                                             f"Not in this document: {', '.join(unknown[:10])}")
    params: dict[str, Any] = {"document_version_id": version.id}
    if body.requirement_uids and kind == "test_generation":
        params["requirement_uids"] = body.requirement_uids
    return await view.app[keys.TASKS].create(kind, body.project_id, view.principal.user_id, params)


class CoverageView(ApiView):
    path = "/bot/coverage"
    tag = "bot"

    @endpoint("Start a coverage analysis of a document version (202; watch task:{id})", body=BotRequest,
              response=TaskStarted, status=202, errors=(403, 404, 409))
    async def post(self, body: BotRequest) -> TaskStarted:
        task = await start_task(self, "coverage", body)
        return TaskStarted(task_id=task["id"], task=TaskOut.model_validate(task))


class CoverageSyncView(ApiView):
    path = "/bot/coverage/sync"
    tag = "bot"

    @endpoint("Run a coverage analysis and wait for the report", body=BotRequest, response=CoverageSyncOut,
              errors=(403, 404, 409))
    async def post(self, body: BotRequest) -> CoverageSyncOut:
        task = await start_task(self, "coverage", body)
        await self.app[keys.TASKS].wait(task["id"])
        done = await load_task(self, task["id"])
        if done.status != "succeeded":
            raise Conflict(done.error or "The coverage analysis did not finish.")
        async with self.db.read() as s:
            artifact = await s.get(Artifact, done.result["artifact_id"])
            assert artifact is not None
            return CoverageSyncOut(report=artifact.content, artifact_id=artifact.id)


class CoverageTaskView(ApiView):
    path = "/bot/coverage/{task_id}"
    tag = "bot"

    @endpoint("A coverage task, with its report once it succeeded", response=CoverageTaskOut, errors=(404,))
    async def get(self) -> CoverageTaskOut:
        task = await load_task(self, self.match("task_id"))
        if task.kind != "coverage":
            raise NotFound("No such coverage task.")
        report = None
        if task.status == "succeeded" and task.result:
            async with self.db.read() as s:
                artifact = await s.get(Artifact, task.result.get("artifact_id"))
                report = artifact.content if artifact is not None else None
        return CoverageTaskOut(task=task, report=report)


class TestCasesView(ApiView):
    path = "/bot/test-cases"
    tag = "bot"

    @endpoint("Start generating test cases for a document version (202; watch task:{id})", body=BotRequest,
              response=TaskStarted, status=202, errors=(403, 404, 409, 422))
    async def post(self, body: BotRequest) -> TaskStarted:
        task = await start_task(self, "test_generation", body)
        return TaskStarted(task_id=task["id"], task=TaskOut.model_validate(task))


VIEWS = [CoverageView, CoverageSyncView, CoverageTaskView, TestCasesView]
