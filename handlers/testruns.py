"""Test runs: import a JUnit XML report as a `test_run` artifact (recording by hand is POST …/artifacts with
type `test_run`). Commands are TestRunService calls (chatsvc/services/testruns.py)."""

from __future__ import annotations

from aiohttp import web

from chatsvc import keys
from chatsvc.schemas.testruns import JUnitImport, TestRunImportOut
from chatsvc.views import ApiView, artifact_response, endpoint


class JUnitImportView(ApiView):
    path = "/projects/{id}/test-runs/import"
    tag = "artifacts"

    @endpoint("Record a test run from a JUnit XML report", body=JUnitImport, response=TestRunImportOut,
              status=201, errors=(403, 404, 413, 422),
              description="Each `<testcase>` is matched to a test case of the project by a test id in its name or "
                          "classname (e.g. `TC-1A2B3C4D5E`), else by its name equal to a test case's title; "
                          "`<failure>`/`<error>` is failed, `<skipped>` skipped, otherwise passed. The run is "
                          "stored as a `test_run` artifact (`{name, results: [{tc_id, status, note?, "
                          "duration_s?}]}`); testcases that match nothing are listed in `import_summary`, never "
                          "dropped silently. Coverage reports then count requirements with a passing test "
                          "(`verified`, `coverage_pct_verified`). Editor or above.")
    async def post(self, body: JUnitImport) -> web.StreamResponse:
        artifact, summary, content_text = await self.app[keys.SERVICES].test_runs.import_junit(
            self.principal, self.match("id"), text=body.content, name=body.name,
            document_version_id=body.document_version_id)
        return await artifact_response(self.request, artifact, content_text, status=201, import_summary=summary)


VIEWS = [JUnitImportView]
