"""Matrix cases for handlers/artifacts.py: members read, editors and owners write, non-members get 404.

The World's artifact is a `note` created by the owner and linked to the World's document version.
GET /artifacts lists what the caller can see, so it answers 200 to every signed-in caller.
"""

from tests.authz_cases import Case, same

P = "/api/v1/projects/{id}/artifacts"
P_URL = "/api/v1/projects/{project_id}/artifacts"
A = "/api/v1/artifacts/{id}"
A_URL = "/api/v1/artifacts/{artifact_id}"
READ = same(200, nonmember=404)


def write(status: int) -> dict[str, int]:
    """Writes: viewer 403, non-member 404."""
    return same(status, nonmember=404, viewer=403)


CASES = [
    Case("POST", P, P_URL, body={"type": "note", "name": "Note {serial}", "content": {"text": "hi"},
                                 "document_version_id": "{document_version_id}"}, expect=write(201)),
    Case("GET", P, P_URL, expect=READ),
    Case("GET", P, P_URL + "?type=note&document_version_id={document_version_id}", expect=READ),
    Case("GET", "/api/v1/document-versions/{id}/artifacts", "/api/v1/document-versions/{document_version_id}/artifacts",
         expect=READ),
    Case("GET", "/api/v1/artifacts", "/api/v1/artifacts?type=note", expect=same(200)),
    Case("GET", A, A_URL, expect=READ),
    Case("PATCH", A, A_URL, body={"name": "Renamed", "content": {"text": "bye"}}, expect=write(200)),
    Case("DELETE", A, A_URL, expect=write(204)),
]
