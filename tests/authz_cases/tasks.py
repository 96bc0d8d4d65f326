"""Matrix cases for handlers/tasks.py (the World's task belongs to its project)."""

from tests.authz_cases import Case, same

CASES = [
    Case("GET", "/api/v1/tasks", "/api/v1/tasks", expect=same(200), note="each caller sees only their projects"),
    Case("GET", "/api/v1/tasks/{id}", "/api/v1/tasks/{task_id}", expect=same(200, nonmember=404)),
    Case("POST", "/api/v1/tasks/{id}/cancel", "/api/v1/tasks/{task_id}/cancel",
         expect=same(202, nonmember=404, viewer=403)),
]
