"""Matrix cases for handlers/members.py."""

from tests.authz_cases import Case, same

MEMBER = "/api/v1/projects/{id}/members/{user_id}"

CASES = [
    Case("GET", "/api/v1/projects/{id}/members", "/api/v1/projects/{project_id}/members",
         expect=same(200, nonmember=404)),
    Case("POST", "/api/v1/projects/{id}/members", "/api/v1/projects/{project_id}/members",
         body={"user_id": "{target_user_id}", "role": "viewer"},
         expect=same(201, nonmember=404, viewer=403, editor=403)),
    Case("PATCH", MEMBER, "/api/v1/projects/{project_id}/members/{viewer_id}", body={"role": "editor"},
         expect=same(200, nonmember=404, viewer=403, editor=403), note="a viewer cannot promote themself"),
    Case("DELETE", MEMBER, "/api/v1/projects/{project_id}/members/{viewer_id}",
         expect=same(204, nonmember=404, editor=403), note="the viewer may remove themself (leave)"),
    Case("DELETE", MEMBER, "/api/v1/projects/{project_id}/members/{owner_id}",
         expect=same(409, nonmember=404, viewer=403, editor=403), note="the last owner cannot be removed"),
]
