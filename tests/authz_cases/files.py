"""Matrix cases for handlers/files.py."""

from tests.authz_cases import Case, same

READ = same(200, nonmember=404)

CASES = [
    Case("POST", "/api/v1/projects/{id}/files", "/api/v1/projects/{project_id}/files", multipart=True,
         expect=same(201, nonmember=404, viewer=403)),
    Case("GET", "/api/v1/projects/{id}/files", "/api/v1/projects/{project_id}/files", expect=READ),
    Case("GET", "/api/v1/files/{id}", "/api/v1/files/{file_id}", expect=READ),
    Case("GET", "/api/v1/files/{id}/content", "/api/v1/files/{file_id}/content", expect=READ),
    Case("DELETE", "/api/v1/files/{id}", "/api/v1/files/{file_id}", expect=same(204, nonmember=404, viewer=403)),
]
