"""Matrix cases for handlers/documents.py: members read, editors and owners write, non-members get 404.

The World's document version was created by the owner from inline content; its file (reqs.md) is UTF-8
text, so creating a version from it succeeds too. A superuser (admin) acts as a project owner.
"""

from tests.authz_cases import Case, same

P = "/api/v1/projects/{id}/document-versions"
P_URL = "/api/v1/projects/{project_id}/document-versions"
V = "/api/v1/document-versions/{id}"
V_URL = "/api/v1/document-versions/{document_version_id}"
READ = same(200, nonmember=404)


def write(status: int) -> dict[str, int]:
    """Writes: viewer 403, non-member 404."""
    return same(status, nonmember=404, viewer=403)


CASES = [
    Case("POST", P, P_URL, body={"title": "Spec {serial}", "content": "REQ-9: The app shall start."},
         expect=write(201)),
    Case("POST", P, P_URL, body={"file_id": "{file_id}", "make_current": False}, expect=write(201),
         note="from the World's uploaded text file"),
    Case("GET", P, P_URL, expect=READ),
    Case("GET", P, P_URL + "?limit=1&offset=0", expect=READ),
    Case("GET", P + "/current", P_URL + "/current", expect=READ),
    Case("GET", V, V_URL, expect=READ),
    Case("PATCH", V, V_URL, body={"title": "Renamed", "notes": "n"}, expect=write(200)),
    Case("PATCH", V, V_URL, body={"is_current": True}, expect=write(200)),
    Case("DELETE", V, V_URL, expect=write(204)),
    Case("GET", V + "/requirements", V_URL + "/requirements", expect=READ),
    Case("POST", P + "/preview", P_URL + "/preview", body={"title": "Draft", "content": "REQ-9: The app shall start."},
         expect=write(200)),
    Case("GET", V + "/diff", V_URL + "/diff", expect=READ),
]
