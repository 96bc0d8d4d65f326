"""Matrix cases for handlers/projects.py."""

from tests.authz_cases import Case, same

MEMBERS_ONLY = same(200, nonmember=404)

CASES = [
    Case("POST", "/api/v1/projects", "/api/v1/projects", body={"name": "New {serial}"}, expect=same(201),
         note="needs the global projects.create permission, which every registered user has"),
    Case("GET", "/api/v1/projects", "/api/v1/projects", expect=same(200)),
    Case("GET", "/api/v1/projects/{id}", "/api/v1/projects/{project_id}", expect=MEMBERS_ONLY),
    Case("PATCH", "/api/v1/projects/{id}", "/api/v1/projects/{project_id}", body={"name": "Renamed"},
         expect=same(200, nonmember=404, viewer=403, editor=403)),
    Case("DELETE", "/api/v1/projects/{id}", "/api/v1/projects/{project_id}",
         expect=same(204, nonmember=404, viewer=403, editor=403)),
]
