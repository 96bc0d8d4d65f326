"""Matrix case for reviewing links (handlers/links.py): editors review. The World's artifact is a `note`, so a
member who may review gets 422 after the rights check; viewers 403, others 404."""

from tests.authz_cases import Case, same

CASES = [
    Case("POST", "/api/v1/artifacts/{id}/links", "/api/v1/artifacts/{artifact_id}/links",
         body={"tc_id": "TC-1", "req_uid": "REQ-9", "decision": "reject"}, expect=same(422, nonmember=404, viewer=403)),
]
