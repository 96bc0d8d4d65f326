"""Per-case changes to a `test_cases` artifact's content, and the history rows they make: plain functions over
plain data, CPU-bound on a big artifact (5000 cases: tens of ms to decode and encode, far more on a busy
machine, all of it holding the GIL). TestCaseService runs them in the cpu executor for a small content and in an
agent worker process (job `case_edit`: `spooled`) beyond that; a whole-content replacement's `diff_rows` runs in a
worker too (job `artifact_update`, chatsvc.services.artifact_jobs).

A case's revisions count from 1. A case present when its artifact was created has no stored row: its revision
is 1 until it changes. A stored row's `changes` is `{field: {"from": old, "to": new}}` (null for a field the case
did not have, or no longer has); `snapshot` is the case after the change (null once deleted).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from agent import spool
from agent.spool import dumps
from chatsvc.errors import Conflict, DomainError, NotFound, ValidationFailed
from chatsvc.schemas.artifacts import TestCase, TestCasesContent, json_problem

MAX_CASES: int = TestCasesContent.model_fields["test_cases"].metadata[0].max_length  # 5000
IMPLICIT = 1  # the revision of a case that has no stored row
ROWS_PER_LINE = 200  # revision rows per spooled JSON line: one slice of decoding on the server's loop


class StaleCase(Exception):
    """The case changed since the revision the client edited from."""

    def __init__(self, revision: int) -> None:
        super().__init__(f"The case is at revision {revision}.")
        self.revision = revision


@dataclass
class Written:
    """What an edit makes: the new content (decoded, and as JSON text to store), the revision rows to add, and
    the answer's parts. `changed` is False when nothing differs (nothing is written). `artifact`: the artifact
    as stored after it, without its content (set by TestCaseService)."""

    content: Any = None
    content_text: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    case: dict[str, Any] | None = None
    revision: int = IMPLICIT
    deleted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    artifact: Any = None

    @property
    def changed(self) -> bool:
        return bool(self.rows)


def cases_of(content: Any) -> list[dict[str, Any]]:
    """The case list of a test_cases content (anything else holds none)."""
    cases = content.get("test_cases") if isinstance(content, dict) else None
    return [case for case in cases or () if isinstance(case, dict)]


def changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """`{field: {"from", "to"}}` for every field (but the id) whose value differs between two cases."""
    old, new = old or {}, new or {}
    return {name: {"from": old.get(name), "to": new.get(name)}
            for name in sorted((old.keys() | new.keys()) - {"id"}) if old.get(name) != new.get(name)}


def row(tc_id: str, revision: int, action: str, old: dict[str, Any] | None,
        new: dict[str, Any] | None) -> dict[str, Any]:
    """A revision row to store, its JSON already encoded."""
    return {"tc_id": tc_id, "revision": revision, "action": action, "changes": dumps(changes(old, new)),
            "snapshot": dumps(new) if new is not None else None}


def diff_rows(old_content: Any, new_content: Any, revisions: dict[str, int]) -> list[dict[str, Any]]:
    """The revision rows of replacing a whole content: each case created, edited or deleted, matched by id."""
    before = {case.get("id"): case for case in cases_of(old_content)}
    after = {case.get("id"): case for case in cases_of(new_content)}
    rows = []
    for tc_id, case in after.items():
        old = before.get(tc_id)
        if not isinstance(tc_id, str) or old == case:
            continue
        last = revisions.get(tc_id)
        if old is None:
            rows.append(row(tc_id, (last or 0) + 1, "created", None, case))
        else:
            rows.append(row(tc_id, (last or IMPLICIT) + 1, "edited", old, case))
    for tc_id, old in before.items():
        if isinstance(tc_id, str) and tc_id not in after:
            rows.append(row(tc_id, revisions.get(tc_id, IMPLICIT) + 1, "deleted", old, None))
    return rows


def _checked_case(case: dict[str, Any]) -> dict[str, Any]:
    """The case validated and normalised as a content stores it; a 422 names the body field."""
    try:
        checked = TestCase.model_validate(case).model_dump(mode="json")
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, ("body",)) from None
    problem = json_problem(checked)
    if problem:
        raise ValidationFailed.field(["body"], problem)
    return checked


def _written(content: dict[str, Any], rows: list[dict[str, Any]], **answer: Any) -> Written:
    return Written(content=content, content_text=dumps(content) if rows else "", rows=rows, **answer)


def _decode(pieces: Iterable[str]) -> dict[str, Any]:
    content = json.loads("".join(pieces))
    if not isinstance(content, dict) or not isinstance(content.get("test_cases"), list):
        content = {**(content if isinstance(content, dict) else {}), "test_cases": []}
    return content


def _new_id(taken: set[str]) -> str:
    while True:
        made = f"TC-{secrets.token_hex(4).upper()}"
        if made not in taken:
            return made


def add_case(pieces: list[str], revisions: dict[str, int], fields: dict[str, Any], tc_id: str | None) -> Written:
    """Append a case; without an id, one no case of the artifact has (nor had) is made."""
    content = _decode(pieces)
    cases = content["test_cases"]
    ids = {case.get("id") for case in cases_of(content)}
    if tc_id is not None and tc_id in ids:
        raise Conflict(f"This artifact already has a test case {tc_id}.")
    if len(cases) >= MAX_CASES:
        raise ValidationFailed.field(["body"], f"The artifact holds {MAX_CASES} test cases, the most it may.")
    case = _checked_case({**fields, "id": tc_id or _new_id({str(i) for i in ids} | set(revisions))})
    revision = revisions.get(case["id"], 0) + 1  # after a deleted case of the same id, its history goes on
    cases.append(case)
    return _written(content, [row(case["id"], revision, "created", None, case)], case=case, revision=revision)


def edit_case(pieces: list[str], revisions: dict[str, int], tc_id: str, fields: dict[str, Any],
              base_revision: int | None) -> Written:
    """Change some fields of one case. New `requirement_uids` drop the links to uids no longer there (a uid
    added by hand is explicit: no link, no fingerprint) and lift a rejection of the uids now declared."""
    content = _decode(pieces)
    cases = content["test_cases"]
    index = next((i for i, case in enumerate(cases) if isinstance(case, dict) and case.get("id") == tc_id), None)
    if index is None:
        raise NotFound(f"No test case {tc_id} in this artifact.")
    old = cases[index]
    current = revisions.get(tc_id, IMPLICIT)
    if base_revision is not None and base_revision != current:
        raise StaleCase(current)
    new = {**old, **fields}
    if "requirement_uids" in fields:
        uids = set(new["requirement_uids"])
        new["links"] = [link for link in new.get("links") or () if link.get("req_uid") in uids]
        new["rejected_uids"] = [uid for uid in new.get("rejected_uids") or () if uid not in uids]
    new = _checked_case(new)
    if new == old:
        return Written(content=content, case=old, revision=current)
    cases[index] = new
    return _written(content, [row(tc_id, current + 1, "edited", old, new)], case=new, revision=current + 1)


def delete_cases(pieces: list[str], revisions: dict[str, int], ids: list[str]) -> Written:
    """Remove the cases with these ids; say which were there and which were not."""
    content = _decode(pieces)
    wanted = set(ids)
    removed = {case.get("id"): case for case in cases_of(content) if case.get("id") in wanted}
    content["test_cases"] = [case for case in content["test_cases"]
                             if not (isinstance(case, dict) and case.get("id") in removed)]
    rows = [row(tc_id, revisions.get(tc_id, IMPLICIT) + 1, "deleted", removed[tc_id], None)
            for tc_id in ids if tc_id in removed]
    return _written(content, rows, deleted=[tc_id for tc_id in ids if tc_id in removed],
                    missing=[tc_id for tc_id in ids if tc_id not in removed])


def review_link(pieces: list[str], revisions: dict[str, int], tc_id: str, req_uid: str, fingerprint: str,
                accept: bool) -> Written:
    """A person's verdict on a link of a case: `accept` declares the requirement (a link with its current
    fingerprint, origin `accepted`); reject removes any link to it and lists it in `rejected_uids`."""
    content = _decode(pieces)
    cases = content["test_cases"]
    index = next((i for i, case in enumerate(cases) if isinstance(case, dict) and case.get("id") == tc_id), None)
    if index is None:
        raise ValidationFailed.field(["body", "tc_id"], f"No test case {tc_id} in this artifact.")
    old = cases[index]
    new = dict(old)
    rejected = [uid for uid in old.get("rejected_uids") or () if uid != req_uid]
    links = [link for link in old.get("links") or () if isinstance(link, dict) and link.get("req_uid") != req_uid]
    uids = [uid for uid in old.get("requirement_uids") or () if uid != req_uid]
    if accept:
        declared = list(old.get("requirement_uids") or ())
        new["requirement_uids"] = declared if req_uid in declared else [*declared, req_uid]
        new["links"] = [*links, {"req_uid": req_uid, "fingerprint": fingerprint, "origin": "accepted"}]
    else:
        rejected.append(req_uid)
        new["requirement_uids"], new["links"] = uids, links
    if rejected:
        new["rejected_uids"] = rejected
    else:
        new.pop("rejected_uids", None)
    new = _checked_case(new)
    current = revisions.get(tc_id, IMPLICIT)
    if new == old:
        return Written(content=content, case=old, revision=current)
    cases[index] = new
    return _written(content, [row(tc_id, current + 1, "edited", old, new)], case=new, revision=current + 1)


def find_case(pieces: list[str], tc_id: str) -> dict[str, Any] | None:
    """One case of a content, or None."""
    return next((case for case in cases_of(_decode(pieces)) if case.get("id") == tc_id), None)


def before(tc_id: str, snapshot: Any, change_set: Any) -> dict[str, Any] | None:
    """Case `tc_id` as it was before a stored change: its snapshot with each field set back (a deletion's
    `from` values are the whole case). None when that cannot be known."""
    if not isinstance(change_set, dict):
        return None
    case = dict(snapshot) if isinstance(snapshot, dict) else {}
    for name, change in change_set.items():
        if isinstance(change, dict) and change.get("from") is not None:
            case[name] = change["from"]
        else:
            case.pop(name, None)
    return {**case, "id": tc_id} if case.get("title") is not None else None


OPERATIONS: dict[str, Callable[..., Written]] = {"add": add_case, "edit": edit_case, "delete": delete_cases,
                                                 "review": review_link}


def spooled(args: dict[str, Any]) -> dict[str, Any]:
    """Job `case_edit`, in a worker process: `op` (add, edit, delete or find) with `params` on the content in
    spool file `content`. A write that changes something writes the new content's JSON text to `out` and its
    revision rows as JSON lines to `rows`; the answer is small: the case, its revision, what was deleted or
    missing, and the new content itself only when it is at most `embed_limit` characters (events carry it).
    A refusal answers `{"stale": revision}` or `{"error": {code, message, details}}` (the domain error)."""
    pieces = [spool.read_text(args["content"])]
    if args["op"] == "find":
        return {"case": find_case(pieces, args["params"]["tc_id"])}
    try:
        written = OPERATIONS[args["op"]](pieces, args["revisions"], **args["params"])
    except StaleCase as stale:
        return {"stale": stale.revision}
    except DomainError as exc:
        return {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
    if written.changed:
        spool.write_text(args["out"], [written.content_text])
        spool.write_lines(args["rows"], written.rows, ROWS_PER_LINE)
    small = written.changed and len(written.content_text) <= args["embed_limit"]
    return {"changed": written.changed, "content": written.content if small else None, "case": written.case,
            "revision": written.revision, "deleted": written.deleted, "missing": written.missing}
