"""Artifacts over HTTP: typed content validation with field locations, listings and filters, roles, events."""

from __future__ import annotations

import asyncio
import copy
import io
import json

import pytest

from chatsvc.schemas.artifacts import validate_content
from tests.helpers import add_member, assert_error, create_project, register_and_login
from tests.recorder import publications

FP = "a" * 64
CASE = {
    "id": "TC-1", "title": "Log in", "preconditions": "A user exists.",
    "steps": [{"action": "Submit the login form", "expected": "The home page shows"}],
    "expected_result": "The user is logged in.", "priority": "high", "type": "functional",
    "requirement_uids": ["REQ-1"], "links": [{"req_uid": "REQ-1", "fingerprint": FP, "origin": "manual"}],
}
REPORT = {
    "summary": {"requirements_total": 2, "covered": 1, "inferred": 0, "stale": 0, "uncovered": 1, "tests_total": 1,
                "orphan_count": 0, "coverage_pct": 50.0, "coverage_pct_with_inferred": 50.0},
    "rows": [{"req_uid": "REQ-1", "title": "Login", "priority": "high", "status": "covered",
              "tests": [{"tc_id": "TC-1", "origin": "explicit", "score": 1.0}]},
             {"req_uid": "REQ-2", "title": "Length", "priority": "high", "status": "uncovered", "tests": []}],
    "uncovered": ["REQ-2"], "orphan_tests": [], "dangling_refs": [],
    "by_priority": {"high": {"total": 2, "covered": 1, "pct": 50.0}},
    "method": {"name": "bm25", "threshold": 0.35}, "document_version_id": None,
    "generated_at": "2024-05-01T10:00:00Z",
}
ARTIFACT_FIELDS = {"id", "project_id", "document_version_id", "type", "name", "content", "created_by", "task_id",
                   "created_at", "updated_at", "version"}


async def setup(client):
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    doc = await owner.post(f"/projects/{pid}/document-versions", {"title": "Spec", "content": "REQ-1: It shall run."})
    assert doc.status == 201
    return owner, pid, doc.body["id"]


async def make(user, pid, type_="note", content=None, **extra):
    body = {"type": type_, "name": f"A {type_}", "content": content if content is not None else {"text": "hi"}, **extra}
    r = await user.post(f"/projects/{pid}/artifacts", body)
    assert r.status == 201, r.body
    return r.body


async def test_create_typed_and_free_artifacts(client):
    owner, pid, doc_id = await setup(client)
    tc = await make(owner, pid, "test_cases", {"test_cases": [CASE], "generator": "manual"}, document_version_id=doc_id)
    assert set(tc) == ARTIFACT_FIELDS
    assert (tc["type"], tc["document_version_id"], tc["created_by"], tc["task_id"], tc["version"]) == (
        "test_cases", doc_id, owner.id, None, 1)
    assert tc["content"]["test_cases"][0] == CASE and tc["content"]["generator"] == "manual"
    no_links = {k: v for k, v in CASE.items() if k != "links"}
    normalised = await make(owner, pid, "test_cases", {"test_cases": [no_links]})
    assert normalised["content"]["test_cases"][0]["links"] == []
    report = await make(owner, pid, "coverage_report", REPORT)
    assert report["content"] == {  # normalised: the fields a report made before test runs lacks get defaults
        **REPORT, "summary": {**REPORT["summary"], "verified": 0, "coverage_pct_verified": 0.0},
        "rows": [{**row, "verified": False} for row in REPORT["rows"]]}
    note = await make(owner, pid, "note", "just a string")
    assert note["content"] == "just a string"
    custom = await make(owner, pid, "risk_register_2", [1, {"a": None}])
    assert custom["content"] == [1, {"a": None}]
    got = await owner.get(f"/artifacts/{tc['id']}")
    assert got.status == 200 and got.body == tc
    created = [(n, d["id"]) for _t, n, d in publications(client) if n.startswith("artifact.")]
    assert created == [("artifact.created", a["id"]) for a in (tc, normalised, report, note, custom)]


@pytest.mark.parametrize("mutate, loc", [
    (lambda c: c["test_cases"][0].pop("title"), ["body", "content", "test_cases", "0", "title"]),
    (lambda c: c["test_cases"][0].update(priority="urgent"), ["body", "content", "test_cases", "0", "priority"]),
    (lambda c: c["test_cases"][0].update(type="smoke"), ["body", "content", "test_cases", "0", "type"]),
    (lambda c: c["test_cases"][0].update(preconditions=["x"]), ["body", "content", "test_cases", "0", "preconditions"]),
    (lambda c: c["test_cases"][0]["steps"][0].pop("expected"),
     ["body", "content", "test_cases", "0", "steps", "0", "expected"]),
    (lambda c: c["test_cases"][0]["links"][0].update(fingerprint="xyz"),
     ["body", "content", "test_cases", "0", "links", "0", "fingerprint"]),
    (lambda c: c["test_cases"][0].update(tags=["a"]), ["body", "content", "test_cases", "0", "tags"]),
    (lambda c: c.pop("test_cases"), ["body", "content", "test_cases"]),
    (lambda c: c["test_cases"].append(copy.deepcopy(c["test_cases"][0])), ["body", "content"]),
])
async def test_test_cases_validation_errors_locate_the_field(client, mutate, loc):
    owner, pid, _doc = await setup(client)
    content = {"test_cases": [copy.deepcopy(CASE)]}
    mutate(content)
    r = await owner.post(f"/projects/{pid}/artifacts", {"type": "test_cases", "name": "x", "content": content})
    assert_error(r, 422, "validation_error")
    assert r.body["error"]["details"][0]["loc"] == loc, r.body


async def test_a_large_suite_is_validated_in_slices_with_the_same_answers(client):
    """Over ITEMS_PER_SLICE items (cases, results), validation runs a slice per call (pydantic holds the GIL
    for a whole call): the stored content, the error locations and the duplicate-id refusal are what one call
    would give."""
    from chatsvc.schemas.artifacts import ITEMS_PER_SLICE, TestCasesContent, TestRunContent

    owner, pid, _doc = await setup(client)
    cases = [{**copy.deepcopy(CASE), "id": f"TC-{n}"} for n in range(ITEMS_PER_SLICE * 3 + 7)]
    content = {"test_cases": cases, "suite": "regression"}
    assert validate_content("test_cases", content) == TestCasesContent.model_validate(content).model_dump(mode="json")
    r = await owner.post(f"/projects/{pid}/artifacts", {"type": "test_cases", "name": "big", "content": content})
    assert r.status == 201 and len(r.body["content"]["test_cases"]) == len(cases)
    # Copies of a case list this long (the test's own work on the server's loop) are shallow: a deep copy took
    # over 50 ms on a busy machine, and the loop guard counts it.
    bad = {**content, "test_cases": [dict(case) for case in cases]}
    bad["test_cases"][ITEMS_PER_SLICE * 2 + 3]["priority"] = "urgent"
    bad["test_cases"][-1]["title"] = ""
    r = await owner.post(f"/projects/{pid}/artifacts", {"type": "test_cases", "name": "bad", "content": bad})
    assert_error(r, 422, "validation_error")
    assert [d["loc"] for d in r.body["error"]["details"]] == [
        ["body", "content", "test_cases", str(ITEMS_PER_SLICE * 2 + 3), "priority"],
        ["body", "content", "test_cases", str(len(cases) - 1), "title"]]
    twice = {**content, "test_cases": [*cases[:-1], {**cases[-1], "id": "TC-3"}]}
    r = await owner.post(f"/projects/{pid}/artifacts", {"type": "test_cases", "name": "dup", "content": twice})
    assert_error(r, 422, "validation_error")
    assert "'TC-3' is used twice" in json.dumps(r.body)
    run = {"name": "nightly", "results": [{"tc_id": f"TC-{n}", "status": "passed"} for n in range(1000)]}
    assert validate_content("test_run", run) == TestRunContent.model_validate(run).model_dump(mode="json")
    run["results"][650]["status"] = "maybe"
    r = await owner.post(f"/projects/{pid}/artifacts", {"type": "test_run", "name": "run", "content": run})
    assert_error(r, 422, "validation_error")
    assert [d["loc"] for d in r.body["error"]["details"]] == [["body", "content", "results", "650", "status"]]


async def test_a_big_create_body_is_decoded_by_a_worker_with_the_same_answers(client):
    """A create body over RAW_BODY_BYTES is never decoded by the server: a worker decodes and checks it. The
    answers are those of a small body: the stored artifact, a 400 for bad JSON, 422s where they belong, 403
    for a viewer; its event carries ids only (the content is far over the embed limit)."""
    from chatsvc.services.artifact_jobs import RAW_BODY_BYTES
    from chatsvc.views import STREAM_OVER_CHARS

    owner, pid, doc_id = await setup(client)
    viewer = await register_and_login(client)
    await add_member(owner, pid, viewer, "viewer")
    note = {"text": "Grüße " + "x" * RAW_BODY_BYTES, "n": [1, 2.5, None, True]}
    body = {"type": "note", "name": "Big note", "content": note, "document_version_id": doc_id}
    r = await owner.post(f"/projects/{pid}/artifacts", body)
    assert r.status == 201, r.body
    assert r.body["content"] == note and r.body["document_version_id"] == doc_id and r.body["version"] == 1
    assert (await owner.get(f"/artifacts/{r.body['id']}")).body == r.body
    event = [d for _t, n, d in publications(client) if n == "artifact.created"][-1]
    assert event["id"] == r.body["id"] and "resource" not in event
    raw = json.dumps(body).encode()
    bad = await owner.call("POST", f"/projects/{pid}/artifacts", data=raw[:-1],
                           headers={"Content-Type": "application/json"})
    assert_error(bad, 400, "bad_request")
    assert_error(await viewer.post(f"/projects/{pid}/artifacts", body), 403, "forbidden")
    _o, _p, foreign_doc = await setup(client)
    r = await owner.post(f"/projects/{pid}/artifacts", {**body, "document_version_id": foreign_doc})
    assert_error(r, 422, "validation_error")
    assert r.body["error"]["details"][0]["loc"] == ["body", "document_version_id"]
    r = await owner.post(f"/projects/{pid}/artifacts", {**body, "surprise": True, "name": " "})
    assert_error(r, 422, "validation_error")
    assert sorted(d["loc"][-1] for d in r.body["error"]["details"]) == ["name", "surprise"]
    r = await owner.post(f"/projects/{pid}/artifacts", {**body, "content": {"bad": "nul\x00" + note["text"]}})
    assert_error(r, 422, "validation_error")
    assert r.body["error"]["details"][0]["loc"] == ["body", "content"]
    # Over STREAM_OVER_CHARS the answers are streamed, with the headers every answer carries.
    huge = {"text": "y" * (STREAM_OVER_CHARS + 10), "more": ["z" * 1000] * 300}
    huge_body = json.dumps({"type": "note", "name": "Huge", "content": huge}).encode()
    made = await owner.call("POST", f"/projects/{pid}/artifacts", data=io.BytesIO(huge_body),
                            headers={"Content-Type": "application/json"})
    got = await owner.get(f"/artifacts/{made.body['id']}")
    for answer in (made, got):
        assert answer.body["content"] == huge and answer.body["name"] == "Huge"
        assert answer.headers["Cache-Control"] == "no-store" and answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert answer.headers["Content-Type"].startswith("application/json")
    assert made.status == 201 and got.status == 200


async def test_coverage_report_and_body_validation(client):
    owner, pid, _doc = await setup(client)
    url = f"/projects/{pid}/artifacts"
    bad = copy.deepcopy(REPORT)
    bad["summary"]["coverage_pct"] = 150
    r = await owner.post(url, {"type": "coverage_report", "name": "x", "content": bad})
    assert_error(r, 422, "validation_error")
    assert r.body["error"]["details"][0]["loc"] == ["body", "content", "summary", "coverage_pct"]
    bad = copy.deepcopy(REPORT)
    bad["rows"][0]["status"] = "maybe"
    r = await owner.post(url, {"type": "coverage_report", "name": "x", "content": bad})
    assert r.body["error"]["details"][0]["loc"] == ["body", "content", "rows", "0", "status"]
    for body, field in (
        ({"type": "Bad Type", "name": "x", "content": {}}, "type"),
        ({"type": "a" * 41, "name": "x", "content": {}}, "type"),
        ({"type": "note", "name": "", "content": {}}, "name"),
        ({"type": "note", "name": "x", "content": None}, "content"),
        ({"type": "note", "name": "x"}, "content"),
        ({"type": "note", "name": "x", "content": {"k": "a\u0000b"}}, "content"),
        ({"type": "note", "name": "x", "content": json.loads("[" * 40 + "1" + "]" * 40)}, "content"),
        ({"type": "note", "name": "x", "content": {}, "document_version_id": "nope"}, "document_version_id"),
        ({"type": "note", "name": "x", "content": {}, "task_id": "t"}, "task_id"),
    ):
        r = await owner.post(url, body)
        assert_error(r, 422, "validation_error")
        assert r.body["error"]["details"][0]["loc"][:2] == ["body", field], (body, r.body)
    r = await owner.call("POST", url, data=b'{"type":"note","name":"x","content":NaN}',
                         headers={"Content-Type": "application/json"})
    assert_error(r, 422, "validation_error")


async def test_document_version_must_be_in_the_same_project(client):
    owner, pid, _doc = await setup(client)
    _o, _p, foreign_doc = await setup(client)
    r = await owner.post(f"/projects/{pid}/artifacts", {"type": "note", "name": "x", "content": {},
                                                        "document_version_id": foreign_doc})
    assert_error(r, 422, "validation_error")
    assert r.body["error"]["details"][0]["loc"] == ["body", "document_version_id"]


async def test_patch_revalidates_by_type_and_bumps_version(client):
    owner, pid, _doc = await setup(client)
    tc = await make(owner, pid, "test_cases", {"test_cases": [CASE]})
    r = await owner.patch(f"/artifacts/{tc['id']}", {"content": {"test_cases": [{"id": "TC-2"}]}})
    assert_error(r, 422, "validation_error")
    assert r.body["error"]["details"][0]["loc"][:4] == ["body", "content", "test_cases", "0"]
    changed = {"test_cases": [dict(CASE, title="Log in again")]}
    r = await owner.patch(f"/artifacts/{tc['id']}", {"name": "Renamed", "content": changed})
    assert r.status == 200 and r.body["name"] == "Renamed" and r.body["version"] == 2
    assert r.body["content"]["test_cases"][0]["title"] == "Log in again"
    assert_error(await owner.patch(f"/artifacts/{tc['id']}", {"type": "note"}), 422, "validation_error")
    assert_error(await owner.patch(f"/artifacts/{tc['id']}", {"name": ""}), 422, "validation_error")
    note = await make(owner, pid)
    r = await owner.patch(f"/artifacts/{note['id']}", {"content": ["anything", 1]})
    assert r.status == 200 and r.body["content"] == ["anything", 1]
    same = await owner.patch(f"/artifacts/{note['id']}", {})
    assert same.status == 200 and same.body == r.body
    assert (await owner.patch(f"/artifacts/{note['id']}", {"name": r.body["name"]})).body == r.body  # same name
    renamed = await owner.patch(f"/artifacts/{note['id']}", {"name": "Kept notes"})
    assert renamed.status == 200 and renamed.body["version"] == 3 and renamed.body["content"] == ["anything", 1]
    assert renamed.body["updated_at"] > r.body["updated_at"] and renamed.body["name"] == "Kept notes"
    assert (await owner.get(f"/artifacts/{note['id']}")).body == renamed.body
    updates = [d for _t, n, d in publications(client) if n == "artifact.updated"]
    assert [(d["id"], d["version"]) for d in updates] == [(tc["id"], 2), (note["id"], 2), (note["id"], 3)]
    assert updates[-1]["resource"] == renamed.body  # small: the event carries the artifact, content and all


async def test_delete(client):
    owner, pid, _doc = await setup(client)
    art = await make(owner, pid)
    r = await owner.delete(f"/artifacts/{art['id']}")
    assert r.status == 204
    assert_error(await owner.get(f"/artifacts/{art['id']}"), 404, "not_found")
    assert_error(await owner.delete(f"/artifacts/{art['id']}"), 404, "not_found")
    last = publications(client)[-1]
    assert last[0] == (f"project:{pid}",) and last[1] == "artifact.deleted" and last[2]["id"] == art["id"]


async def test_listings_and_filters(client):
    owner, pid, doc_id = await setup(client)
    other_pid = (await create_project(owner, "Second"))["id"]
    a1 = await make(owner, pid, "note", document_version_id=doc_id)
    a2 = await make(owner, pid, "test_cases", {"test_cases": [CASE]}, document_version_id=doc_id)
    a3 = await make(owner, pid, "note")
    a4 = await make(owner, other_pid, "note")
    stranger = await register_and_login(client)
    await make(stranger, (await create_project(stranger))["id"], "note")

    def ids(resp):
        assert resp.status == 200, resp.body
        return [a["id"] for a in resp.body["items"]]

    assert ids(await owner.get(f"/projects/{pid}/artifacts")) == [a3["id"], a2["id"], a1["id"]]
    assert ids(await owner.get(f"/projects/{pid}/artifacts?type=note")) == [a3["id"], a1["id"]]
    assert ids(await owner.get(f"/projects/{pid}/artifacts?type=note&document_version_id={doc_id}")) == [a1["id"]]
    # An empty filter is no type and no id: a 422, as the schema says (leave it out to list everything).
    for empty in ("type=", "document_version_id="):
        assert_error(await owner.get(f"/projects/{pid}/artifacts?{empty}"), 422, "validation_error")
    page = await owner.get(f"/projects/{pid}/artifacts?limit=1&offset=1")
    assert ids(page) == [a2["id"]] and page.body["total"] == 3 and page.body["limit"] == 1
    assert ids(await owner.get(f"/document-versions/{doc_id}/artifacts")) == [a2["id"], a1["id"]]
    assert ids(await owner.get(f"/document-versions/{doc_id}/artifacts?type=test_cases")) == [a2["id"]]
    assert ids(await owner.get("/artifacts")) == [a4["id"], a3["id"], a2["id"], a1["id"]]  # not the stranger's
    assert ids(await owner.get("/artifacts?type=test_cases")) == [a2["id"]]
    assert ids(await (await register_and_login(client)).get("/artifacts")) == []
    for bad in ("/artifacts?type=Bad!", f"/projects/{pid}/artifacts?limit=0", f"/projects/{pid}/artifacts?limit=201",
                f"/projects/{pid}/artifacts?document_version_id=a/b", "/artifacts?offset=-1"):
        assert_error(await owner.get(bad), 422, "validation_error")


async def test_roles_and_non_members(client):
    owner, pid, doc_id = await setup(client)
    editor, viewer, stranger = [await register_and_login(client) for _ in range(3)]
    await add_member(owner, pid, editor, "editor")
    await add_member(owner, pid, viewer, "viewer")
    art = await make(editor, pid)
    assert art["created_by"] == editor.id
    for path in (f"/artifacts/{art['id']}", f"/projects/{pid}/artifacts", f"/document-versions/{doc_id}/artifacts"):
        assert (await viewer.get(path)).status == 200
        assert_error(await stranger.get(path), 404, "not_found")
    assert (await stranger.get("/artifacts")).body["total"] == 0
    body = {"type": "note", "name": "x", "content": {}}
    assert_error(await viewer.post(f"/projects/{pid}/artifacts", body), 403, "forbidden")
    assert_error(await viewer.patch(f"/artifacts/{art['id']}", {"name": "y"}), 403, "forbidden")
    assert_error(await viewer.delete(f"/artifacts/{art['id']}"), 403, "forbidden")
    assert_error(await stranger.post(f"/projects/{pid}/artifacts", body), 404, "not_found")
    # A non-member learns nothing from a bad body either: 404 before validation.
    assert_error(await stranger.post(f"/projects/{pid}/artifacts", dict(body, type="test_cases")), 404, "not_found")
    assert_error(await stranger.patch(f"/artifacts/{art['id']}", {"name": "y"}), 404, "not_found")
    assert_error(await stranger.delete(f"/artifacts/{art['id']}"), 404, "not_found")
    assert (await editor.patch(f"/artifacts/{art['id']}", {"name": "y"})).status == 200
    assert (await editor.delete(f"/artifacts/{art['id']}")).status == 204
    assert_error(await owner.get("/artifacts/" + "x" * 65), 404, "not_found")


async def test_on_both_databases(any_db_client):
    owner, pid, doc_id = await setup(any_db_client)
    tc = await make(owner, pid, "test_cases", {"test_cases": [CASE]}, document_version_id=doc_id)
    await make(owner, pid, "coverage_report", REPORT)
    unicode_note = await make(owner, pid, "note", {"text": "Grüße \u2603 \U0001f600", "n": 1.5, "ok": True})
    assert (await owner.get(f"/artifacts/{unicode_note['id']}")).body["content"]["text"] == "Grüße \u2603 \U0001f600"
    # A GET splices the stored content's JSON text into the answer: a name or content that looks like the key
    # must not fool it, and every JSON value (a bare string, a number) comes back as it was stored.
    for content in ("\"content\":null", ["content", None, {"content": None}], 0):
        made = await owner.post(f"/projects/{pid}/artifacts", {"type": "note", "name": '"content":null',
                                                                "content": content})
        assert made.status == 201, made.body
        tricky = made.body
        got = await owner.get(f"/artifacts/{tricky['id']}")
        assert got.status == 200 and got.body == tricky, (got.body, tricky)
    listed = await owner.get(f"/projects/{pid}/artifacts?type=test_cases")
    assert [a["id"] for a in listed.body["items"]] == [tc["id"]]
    assert (await owner.delete(f"/document-versions/{doc_id}")).status == 204
    assert (await owner.get(f"/artifacts/{tc['id']}")).body["document_version_id"] is None


async def test_concurrent_creates_each_get_their_own_answer(any_db_client):
    """Creates arriving together are written together (one statement, one transaction); each caller still gets
    its own row, its own refusal and its own event, and a refused one writes nothing."""
    owner, pid, doc_id = await setup(any_db_client)
    _o, _p, foreign_doc = await setup(any_db_client)
    editor, viewer = await register_and_login(any_db_client), await register_and_login(any_db_client)
    await add_member(owner, pid, editor, "editor")
    await add_member(owner, pid, viewer, "viewer")
    url = f"/projects/{pid}/artifacts"

    def body(n: int, **extra):
        return {"type": "note", "name": f"n{n}", "content": {"n": n}, **extra}

    calls = [(owner, body(n)) for n in range(12)] + [(editor, body(n, document_version_id=doc_id))
                                                     for n in range(12, 24)]
    calls += [(owner, body(90, document_version_id=foreign_doc)), (viewer, body(91)),
              (owner, dict(body(92), name="nul\x00name"))]  # PostgreSQL cannot store it: refused before the batch
    answers = await asyncio.gather(*(user.post(url, b) for user, b in calls))
    for (user, b), r in zip(calls[:24], answers[:24], strict=True):
        assert r.status == 201, r.body
        assert (r.body["name"], r.body["content"], r.body["created_by"], r.body["document_version_id"]) == (
            b["name"], b["content"], user.id, b.get("document_version_id"))
        assert (await owner.get(f"/artifacts/{r.body['id']}")).body == r.body
    assert_error(answers[24], 422, "validation_error")
    assert answers[24].body["error"]["details"][0]["loc"] == ["body", "document_version_id"]
    assert_error(answers[25], 403, "forbidden")
    assert_error(answers[26], 422, "validation_error")
    listed = await owner.get(f"{url}?limit=100")
    assert sorted(a["name"] for a in listed.body["items"]) == sorted(b["name"] for _u, b in calls[:24])
    created = sorted(d["id"] for _t, n, d in publications(any_db_client) if n == "artifact.created")
    assert created == sorted(r.body["id"] for r in answers[:24])


def test_generated_test_cases_and_coverage_reports_validate():
    """What the offline generator and the coverage analysis produce is valid artifact content."""
    from agent.coverage import analyse_coverage
    from agent.requirements import extract_requirements
    from agent.testgen import generate_test_cases

    reqs = extract_requirements("REQ-1: The system shall log in users.\nREQ-2: Passwords must be 8 to 72 bytes.")
    cases = generate_test_cases(reqs)
    assert validate_content("test_cases", {"test_cases": cases})["test_cases"]
    report = analyse_coverage(reqs, cases, document_version_id="dv", generated_at="2024-05-01T10:00:00Z")
    assert validate_content("coverage_report", report)["summary"] == report["summary"]
