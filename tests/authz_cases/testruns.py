"""Matrix case for the JUnit import (handlers/testruns.py): editors import. The World's project has no test
cases, so a member who may import gets 422 (nothing matches) after the rights check; viewers 403, others 404."""

from tests.authz_cases import Case, same

JUNIT = '<testsuite name="s"><testcase name="TC-0000000000 {serial}"/></testsuite>'

CASES = [
    Case("POST", "/api/v1/projects/{id}/test-runs/import", "/api/v1/projects/{project_id}/test-runs/import",
         body={"content": JUNIT}, expect=same(422, nonmember=404, viewer=403)),
]
