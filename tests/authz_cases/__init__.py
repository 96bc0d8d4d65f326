"""Authorization-matrix cases, one module per handler module; the matrix test checks every route has one.

A Case names a route exactly as in the route table (method + canonical path), the concrete URL to
call (a format string over the World's fields), a minimal valid body, and the expected status for
each caller: anon, nonmember, viewer, editor, owner, admin (a superuser who is not a member).

World fields available in `url` and `body` (strings; see tests/authz_world.py):
  project_id, file_id, document_version_id, artifact_id (all created by the owner), project_chat_id
  (created by the editor), personal_chat_id (owned by the owner), user_message_id (written by the
  editor in the project chat), assistant_message_id (in the project chat), role_id (a custom role),
  builtin_role_id, owner_id, editor_id, viewer_id, nonmember_id, admin_id, target_user_id (a plain
  user no test logs in as), task_id, serial (a short number unique to the World).
Mutating cases get a fresh World per caller, so a DELETE that succeeds for one caller does not affect
the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CALLERS = ("anon", "nonmember", "viewer", "editor", "owner", "admin")


@dataclass(frozen=True)
class Case:
    method: str
    route: str  # canonical path as registered, e.g. "/api/v1/projects/{id}"
    url: str  # e.g. "/api/v1/projects/{project_id}"
    expect: dict[str, int]
    body: Any = None  # JSON body; str values are formatted with the World's fields
    multipart: bool = False  # send a small file as multipart field "file"
    form: dict[str, str] | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = set(CALLERS) - set(self.expect)
        assert not missing, f"{self.method} {self.route}: no expectation for {sorted(missing)}"


def same(status: int, **overrides: int) -> dict[str, int]:
    """Expect `status` for every caller except anon (401) and the overrides."""
    expect = {caller: status for caller in CALLERS}
    expect["anon"] = 401
    expect.update(overrides)
    return expect
