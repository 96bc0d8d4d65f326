"""Large documents end to end: create -> generate -> coverage at the document size limit, and through the worker
paths (spooled extraction, generation and coverage) with results identical to the in-process ones.

The loop guard (tests/conftest.py) fails any test whose callbacks hold the loop for more than 50 ms; these
tests only read artifacts of a few MB or less through REST, and check the 50 MB one in the database.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest

from agent.coverage import analyse_coverage
from agent.requirements import extract_requirements
from agent.testgen import chunk_requirements, generate_test_cases
from chatsvc import keys
from chatsvc.schemas.documents import MAX_CONTENT_BYTES
from storage import agentdata
from tests.helpers import create_project, register_and_login

COMPONENTS = ("billing service", "audit log", "login page", "report exporter", "search index", "API gateway")


def requirement_line(i: int) -> str:
    """Numbered requirements: six in ten plain, three with a numeric limit (boundary cases), one a prohibition."""
    component = COMPONENTS[i % len(COMPONENTS)]
    if i % 10 < 6:
        return f"- REQ-{i}: The {component} shall record event kind {i} for every signed-in user."
    if i % 10 < 9:
        return f"- REQ-{i}: The {component} shall answer query {i} within {i % 90 + 10} milliseconds."
    return f"- REQ-{i}: The {component} shall not expose field {i} to anonymous callers."


def document(size: int, prose: str = "") -> str:
    """Markdown of exactly `size` UTF-8 bytes: sections of 50 requirements (each section opened by `prose`)."""
    lines = ["# Large requirements document", ""]
    used = sum(len(line) + 1 for line in lines)
    i = 1
    while True:
        line = (f"\n## Area {i // 50 + 1}\n\n{prose}\n" if prose else f"\n## Area {i // 50 + 1}\n") \
            if i % 50 == 1 else ""
        line += requirement_line(i)
        if used + len(line.encode()) + 1 > size:
            break
        lines.append(line)
        used += len(line.encode()) + 1
        i += 1
    text = "\n".join(lines) + "\n"
    return text + " " * (size - len(text.encode()))  # trailing blanks: exactly `size` bytes, no requirement


def expected(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The requirements of a text and the test cases the offline generator writes for them, chunk by chunk."""
    requirements = extract_requirements(text)
    cases = [case for chunk in chunk_requirements(requirements, 8) for case in generate_test_cases(chunk)]
    return requirements, cases


async def post_document(user: Any, project_id: str, title: str, text: str) -> Any:
    """Create a document version (a body of MBs is sent as a stream, as aiohttp advises)."""
    body = json.dumps({"title": title, "content": text}).encode()
    return await user.call("POST", f"/projects/{project_id}/document-versions", data=io.BytesIO(body),
                           headers={"Content-Type": "application/json"})


async def wait_done(user: Any, task_id: str, timeout: float = 240) -> dict[str, Any]:
    """Poll a task until it ends; return its JSON."""
    for _ in range(int(timeout / 0.1)):
        task: dict[str, Any] = (await user.get(f"/tasks/{task_id}")).body
        if task["status"] not in ("queued", "running"):
            return task
        await asyncio.sleep(0.1)
    raise AssertionError(f"task {task_id} did not end")


async def run_both(user: Any, project_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Generate test cases, then run coverage; return both finished tasks."""
    started = await user.post("/bot/test-cases", {"project_id": project_id})
    assert started.status == 202, started.body
    generated = await wait_done(user, started.body["task_id"])
    started = await user.post("/bot/coverage", {"project_id": project_id})
    assert started.status == 202, started.body
    return generated, await wait_done(user, started.body["task_id"])


def extract_in_workers(client: Any) -> None:
    """Big documents are extracted by the agent pool's workers: the app gives the document service the pool."""
    assert client.app[keys.SERVICES].documents.agents is client.app[keys.AGENTS]


async def stored_text(client: Any, artifact_id: str) -> str:
    """An artifact's content as the JSON text stored in the database (it may be 50 MB: not read over REST)."""
    async with client.app[keys.DB].read() as s:
        pieces = await agentdata.content_pieces(s, artifact_id)
    return await asyncio.to_thread("".join, pieces)


def check_limit_artifacts(text: str, cases_text: str, report_text: str) -> dict[str, Any]:
    """Compare the stored artifacts with what the pure functions give for the document; return the counts.

    Runs in a thread: building, comparing and freeing 50 000 test cases would hold the loop for 100s of ms.
    """
    requirements, cases = expected(text)
    assert json.loads(cases_text) == {"test_cases": cases}
    report = json.loads(report_text)
    assert report["summary"]["requirements_total"] == report["summary"]["covered"] == len(requirements)
    assert report["summary"]["tests_total"] == len(cases) and report["uncovered"] == []
    assert [row["req_uid"] for row in report["rows"]] == [r["uid"] for r in requirements]
    return {"requirements": len(requirements), "cases": len(cases), "uids": [r["uid"] for r in requirements[1000:1002]]}


def counts(text: str) -> dict[str, Any]:
    """The number of requirements and test cases of a document, and two uids from the middle (in a thread)."""
    requirements, cases = expected(text)
    return {"requirements": len(requirements), "cases": len(cases), "uids": [r["uid"] for r in requirements[1000:1002]]}


@pytest.mark.timeout(600)
async def test_a_document_at_the_size_limit_is_created_tested_and_covered(client):
    extract_in_workers(client)
    owner = await register_and_login(client)
    project = await create_project(owner)
    text = document(MAX_CONTENT_BYTES)
    assert len(text.encode()) == MAX_CONTENT_BYTES
    want = await asyncio.to_thread(counts, text)

    created = await post_document(owner, project["id"], "Big", text)
    assert created.status == 201, created.body
    assert created.body["requirement_count"] == want["requirements"] > 20_000
    listed = await owner.get(f"/document-versions/{created.body['id']}/requirements?limit=2&offset=1000")
    assert listed.body["total"] == want["requirements"]
    assert [r["uid"] for r in listed.body["items"]] == want["uids"]
    assert (await post_document(owner, project["id"], "Big", text + "x")).status == 413

    generated, covered = await run_both(owner, project["id"])
    assert generated["status"] == "succeeded", generated["error"]
    assert generated["result"]["test_case_count"] == want["cases"]
    assert generated["result"]["document_version_id"] == created.body["id"]
    assert covered["status"] == "succeeded", covered["error"]
    assert covered["result"]["coverage_pct"] == 100.0
    tasks = await owner.get(f"/tasks?project_id={project['id']}")
    assert [t["status"] for t in tasks.body["items"]] == ["succeeded", "succeeded"]
    artifacts = [await stored_text(client, task["result"]["artifact_id"]) for task in (generated, covered)]
    assert await asyncio.to_thread(check_limit_artifacts, text, *artifacts) == want


@pytest.mark.timeout(300)
async def test_worker_paths_give_the_same_artifacts_as_in_process(any_db_client, monkeypatch):
    """A document big enough for every worker path (extraction > 32 KiB, > 64 requirements, > 20 000
    requirement x test pairs), small enough to read its artifacts over REST: same content as the pure functions.
    The test cases are read back for coverage in pieces of 64 KiB (as a 50 MB artifact is, in 4 MiB ones)."""
    monkeypatch.setattr(agentdata, "TEXT_PIECE", 64 * 1024)
    client = any_db_client
    extract_in_workers(client)
    owner = await register_and_login(client)
    project = await create_project(owner)
    prose = "This area groups the behaviour of one part of the product; the text here states no obligation. " * 4
    text = document(48 * 1024, prose)
    requirements, cases = await asyncio.to_thread(expected, text)
    assert 64 < len(requirements) < 1000

    created = await post_document(owner, project["id"], "Spec", text)
    assert created.status == 201 and created.body["requirement_count"] == len(requirements)
    stored = await owner.get(f"/document-versions/{created.body['id']}/requirements?limit=200")
    assert stored.body["items"] == requirements[:200]

    generated, covered = await run_both(owner, project["id"])
    assert generated["status"] == covered["status"] == "succeeded", (generated["error"], covered["error"])
    artifact = (await owner.get(f"/artifacts/{generated['result']['artifact_id']}")).body
    assert artifact["type"] == "test_cases" and artifact["task_id"] == generated["id"]
    assert artifact["document_version_id"] == created.body["id"]
    assert artifact["content"] == {"test_cases": cases}
    assert generated["result"]["test_case_count"] == len(cases)

    report = (await owner.get(f"/bot/coverage/{covered['id']}")).body["report"]
    # The test shares the server's loop: its own reference computation runs on a thread, as the server's does.
    want = await asyncio.to_thread(lambda: json.loads(json.dumps(analyse_coverage(
        requirements, cases, document_version_id=created.body["id"], generated_at=report["generated_at"]))))
    assert report == want and covered["result"]["coverage_pct"] == 100.0
