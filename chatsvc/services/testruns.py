"""Test runs: record what happened when test cases ran — by hand (a `test_run` artifact through
ArtifactService.create) or from a JUnit XML report (this service), matched to the project's test cases.

Coverage then reports, beside "has a test", "has a passing test" (agent/testruns.py, agent/coverage.py).
"""

from __future__ import annotations

from typing import Any

from chatsvc.errors import PayloadTooLarge
from chatsvc.schemas.artifacts import ArtifactOut
from chatsvc.schemas.testruns import MAX_JUNIT_BYTES
from chatsvc.security import Principal
from chatsvc.services.artifacts import ArtifactService
from storage import agentdata
from storage.db import Database

SHOWN_UNMATCHED = 200


class TestRunService:
    """Import JUnit XML as a `test_run` artifact."""

    __test__ = False  # not a pytest class

    def __init__(self, *, db: Database, artifacts: ArtifactService) -> None:
        self.db = db
        self.artifacts = artifacts

    async def import_junit(self, principal: Principal, project_id: str, *, text: str, name: str | None,
                           document_version_id: str | None) -> tuple[ArtifactOut, dict[str, Any], str]:
        """Editor: a worker reads the report against the project's test cases (chatsvc.services.artifact_jobs);
        the run is stored (then published). Returns the artifact (content None), the import's summary and the
        content's JSON text."""
        if len(text.encode("utf-8")) > MAX_JUNIT_BYTES:
            raise PayloadTooLarge(f"A JUnit report may hold at most {MAX_JUNIT_BYTES // 1024 // 1024} MiB.")
        await self.artifacts.require_editor(principal, project_id)
        pool = self.artifacts.agents
        assert pool is not None, "TestRunService needs the agent pool"
        contents: list[str] = []
        try:
            async with self.db.read() as s:
                await agentdata.spool_test_cases(s, project_id, pool.spool, contents)
            name = name or "JUnit run"
            made, content_text = await self.artifacts.in_worker(
                "junit", {"contents": contents, "name": name, "shown": SHOWN_UNMATCHED}, "report", [text])
        finally:
            await pool.spool.discard(*contents)
        out = await self.artifacts.store_checked(principal, project_id, type="test_run", name=name,
                                                 document_version_id=document_version_id,
                                                 content_text=content_text, content=made["content"])
        return out, made["summary"], content_text
