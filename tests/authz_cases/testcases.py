"""Matrix cases for editing test cases one by one (handlers/test_cases.py): editors write, members read the
history. The World's artifact is a `note`, so a member allowed to get that far gets 422 (not a test_cases
artifact) after the rights check; viewers 403 on writes, others 404."""

from tests.authz_cases import Case, same

BASE = "/api/v1/artifacts/{artifact_id}/test-cases"

CASES = [
    Case("POST", "/api/v1/artifacts/{id}/test-cases", BASE, body={"title": "By hand"},
         expect=same(422, nonmember=404, viewer=403)),
    Case("POST", "/api/v1/artifacts/{id}/test-cases/delete", BASE + "/delete", body={"ids": ["TC-1"]},
         expect=same(422, nonmember=404, viewer=403)),
    Case("PATCH", "/api/v1/artifacts/{id}/test-cases/{tc_id}", BASE + "/TC-1", body={"title": "Edited"},
         expect=same(422, nonmember=404, viewer=403)),
    Case("GET", "/api/v1/artifacts/{id}/test-cases/{tc_id}/history", BASE + "/TC-1/history",
         expect=same(422, nonmember=404)),
]
