"""Test runs: record what happened when test cases ran — by hand (a `test_run` artifact through
ArtifactService.create) or from a JUnit XML report (this service), matched to the project's test cases.

Coverage then reports, beside "has a test", "has a passing test" (agent/testruns.py, agent/coverage.py).
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Executor
from typing import Any

from agent.coverage import merge_test_cases
from agent.testruns import JUnitProblem, parse_junit
from chatsvc import authz
from chatsvc.errors import PayloadTooLarge, ValidationFailed
from chatsvc.schemas.testruns import MAX_JUNIT_BYTES, TestRunImportOut
from chatsvc.security import Principal
from chatsvc.services.artifacts import ArtifactService
from storage import agentdata
from storage.db import Database

SHOWN_UNMATCHED = 200


def read_report(text: str, contents: list[list[str]]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Match a JUnit report to the test cases of the project's artifacts (CPU-bound: in the cpu executor)."""
    cases = merge_test_cases(json.loads("".join(pieces)) for pieces in contents)
    return parse_junit(text, cases)


class TestRunService:
    """Import JUnit XML as a `test_run` artifact."""

    __test__ = False  # not a pytest class

    def __init__(self, *, db: Database, cpu: Executor, artifacts: ArtifactService) -> None:
        self.db = db
        self.cpu = cpu
        self.artifacts = artifacts

    async def import_junit(self, principal: Principal, project_id: str, *, text: str, name: str | None,
                           document_version_id: str | None) -> TestRunImportOut:
        """Editor: read the report against the project's test cases and store the run (then publish)."""
        if len(text.encode("utf-8")) > MAX_JUNIT_BYTES:
            raise PayloadTooLarge(f"A JUnit report may hold at most {MAX_JUNIT_BYTES // 1024 // 1024} MiB.")
        async with self.db.read() as s:
            await authz.require_project(s, principal, project_id, need="editor")
            stored = await agentdata.test_case_artifacts(s, project_id)
            contents = [await agentdata.content_pieces(s, artifact_id) for artifact_id, _size in stored]
        try:
            results, unmatched = await asyncio.get_running_loop().run_in_executor(
                self.cpu, read_report, text, contents)
        except JUnitProblem as exc:
            raise ValidationFailed.field(["body", "content"], str(exc)) from None
        if not results:
            raise ValidationFailed.field(["body", "content"], "No testcase of the report matches a test case of "
                                         "this project (by a test id such as TC-… in its name, or its title).")
        out = await self.artifacts.create(principal, project_id, type="test_run", name=name or "JUnit run",
                                          content={"name": name or "JUnit run", "results": results},
                                          document_version_id=document_version_id)
        counts = {status: sum(1 for r in results if r["status"] == status) for status in ("passed", "failed",
                                                                                          "skipped")}
        return TestRunImportOut.model_validate({**out.model_dump(), "import_summary": {
            "results": len(results), **counts, "unmatched": unmatched[:SHOWN_UNMATCHED],
            "unmatched_count": len(unmatched)}})
