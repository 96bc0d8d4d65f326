"""Background tasks: test-case generation and coverage through the bot endpoints, the agent's tools,
progress over the websocket, cancel, parallel tasks and start-up recovery."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from chatsvc import keys
from tests.chatutil import new_chat, run_events, send, streamed_text
from tests.conftest import build_app, make_settings
from tests.fakes.openai_server import StructuredOutput, fake_openai  # noqa: F401 - fixture
from tests.helpers import add_member, create_project, register_and_login
from tests.wsutil import WsClient

SPEC = """# Accounts

REQ-1: The system shall let a registered user log in with a username and password.
REQ-2: The system must not accept a password shorter than 8 characters.
REQ-3: The system shall lock an account after at most 5 failed login attempts.

## Carts

REQ-4: The cart should show the total price including tax.
"""


def big_spec(n: int) -> str:
    return "# Big\n\n" + "\n".join(f"REQ-{i}: The system shall record audit event number {i}." for i in range(1, n + 1))


async def project_with_spec(user, content: str = SPEC) -> tuple[dict, dict]:
    project = await create_project(user)
    doc = await user.post(f"/projects/{project['id']}/document-versions", {"title": "Spec", "content": content})
    assert doc.status == 201, doc.body
    return project, doc.body


async def task_events(ws: WsClient, task_id: str, timeout: float = 30) -> list[dict]:
    """Collect a task's events from a project subscription until it ends."""
    out = []
    while True:
        frame = await ws.recv_until(lambda f: f["type"] == "event" and f["name"].startswith("task.")
                                    and f["data"].get("task_id") == task_id, timeout)
        out.append(frame)
        if frame["name"] in ("task.completed", "task.failed", "task.cancelled"):
            return out


async def test_generate_test_cases_then_coverage(client):
    owner = await register_and_login(client)
    project, doc = await project_with_spec(owner)
    assert doc["requirement_count"] == 4
    ws = await WsClient.connect(client, owner)
    await ws.op("subscribe", topic=f"project:{project['id']}")
    started = await owner.post("/bot/test-cases", {"project_id": project["id"]})
    assert started.status == 202 and started.body["task"]["status"] == "queued"
    task_id = started.body["task_id"]
    events = await task_events(ws, task_id)
    assert events[0]["name"] == "task.created"
    progress = [e["data"] for e in events if e["name"] == "task.progress"]
    assert progress and [p["done"] for p in progress] == sorted(p["done"] for p in progress)
    assert progress[-1]["done"] == progress[-1]["total"] == 4
    done = events[-1]
    assert done["name"] == "task.completed"
    artifact_id = done["data"]["result"]["artifact_id"]
    artifact = await owner.get(f"/artifacts/{artifact_id}")
    assert artifact.status == 200 and artifact.body["type"] == "test_cases"
    assert artifact.body["task_id"] == task_id and artifact.body["document_version_id"] == doc["id"]
    cases = artifact.body["content"]["test_cases"]
    assert {uid for c in cases for uid in c["requirement_uids"]} == {"REQ-1", "REQ-2", "REQ-3", "REQ-4"}
    assert any(c["type"] == "negative" for c in cases) and any(c["type"] == "boundary" for c in cases)
    task = await owner.get(f"/tasks/{task_id}")
    assert task.body["status"] == "succeeded" and task.body["progress"] == 1.0

    coverage = await owner.post("/bot/coverage", {"project_id": project["id"]})
    assert coverage.status == 202
    events = await task_events(ws, coverage.body["task_id"])
    assert events[-1]["name"] == "task.completed"
    report = await owner.get(f"/bot/coverage/{coverage.body['task_id']}")
    assert report.status == 200 and report.body["task"]["status"] == "succeeded"
    summary = report.body["report"]["summary"]
    assert summary["requirements_total"] == 4 and summary["coverage_pct"] == 100.0
    listed = await owner.get(f"/tasks?project_id={project['id']}")
    assert listed.body["total"] == 2
    await ws.close()


async def test_coverage_sync_and_uncovered_requirements(client):
    owner = await register_and_login(client)
    project, doc = await project_with_spec(owner)
    r = await owner.post("/bot/coverage/sync", {"project_id": project["id"]})
    assert r.status == 200
    assert r.body["report"]["summary"]["coverage_pct"] == 0.0
    assert r.body["report"]["uncovered"] == ["REQ-1", "REQ-2", "REQ-3", "REQ-4"]
    artifact = await owner.get(f"/artifacts/{r.body['artifact_id']}")
    assert artifact.body["type"] == "coverage_report"


async def test_bot_input_errors(client):
    owner = await register_and_login(client)
    viewer = await register_and_login(client)
    empty = await create_project(owner)
    await add_member(owner, empty["id"], viewer, "viewer")
    assert (await owner.post("/bot/test-cases", {"project_id": empty["id"]})).error_code == "conflict"
    assert (await viewer.post("/bot/test-cases", {"project_id": empty["id"]})).status == 403
    project, _ = await project_with_spec(owner)
    unknown = await owner.post("/bot/test-cases", {"project_id": project["id"], "requirement_uids": ["REQ-99"]})
    assert unknown.status == 422 and unknown.body["error"]["details"][0]["loc"] == ["body", "requirement_uids"]
    missing_doc = {"project_id": project["id"], "document_version_id": "nope"}
    assert (await owner.post("/bot/coverage", missing_doc)).status == 404
    assert (await owner.post("/bot/coverage", {})).status == 422
    assert (await owner.get("/tasks/not-a-task")).status == 404


async def test_llm_generation_in_chunks_and_cancel_between_them(aiohttp_client, tmp_path, fake_openai):
    """With a real model provider, generation asks it for structured test cases chunk by chunk (in a worker
    process); a cancel lands between chunks."""
    def answer(body):
        uids = sorted(set(re.findall(r"REQ-\d+", body["messages"][-1]["content"])))
        cases = [{"title": f"Check {uid}", "preconditions": "", "steps": [{"action": "do", "expected": "ok"}],
                  "expected_result": "ok", "priority": "high", "type": "functional", "requirement_uids": [uid]}
                 for uid in uids]
        return StructuredOutput(None, {"test_cases": cases}, delay=0.2)

    fake_openai.rule = answer
    settings = make_settings(tmp_path, llm="openai", openai_base_url=fake_openai.base_url, openai_api_key="test",
                             llm_max_retries=0)
    client = await aiohttp_client(await build_app(settings))
    owner = await register_and_login(client)
    project, _ = await project_with_spec(owner, big_spec(20))  # 3 chunks of 8
    ws = await WsClient.connect(client, owner)
    await ws.op("subscribe", topic=f"project:{project['id']}")
    done = await task_events(ws, (await owner.post("/bot/test-cases", {"project_id": project["id"]})).body["task_id"])
    assert done[-1]["name"] == "task.completed"
    artifact = await owner.get(f"/artifacts/{done[-1]['data']['result']['artifact_id']}")
    cases = artifact.body["content"]["test_cases"]
    assert len(cases) == 20 and all(c["id"].startswith("TC-") and c["links"][0]["fingerprint"] for c in cases)
    assert sum(1 for r in fake_openai.requests if r.get("tool_choice")) == 3

    project, _ = await project_with_spec(owner, big_spec(40))  # 5 slow chunks
    await ws.op("subscribe", topic=f"project:{project['id']}")
    task_id = (await owner.post("/bot/test-cases", {"project_id": project["id"]})).body["task_id"]
    await ws.recv_until(lambda f: f.get("name") == "task.progress" and f["data"].get("done", 0) > 0, timeout=30)
    assert (await owner.post(f"/tasks/{task_id}/cancel")).status == 202
    events = await task_events(ws, task_id)
    assert events[-1]["name"] == "task.cancelled"
    task = (await owner.get(f"/tasks/{task_id}")).body
    assert task["status"] == "cancelled" and task["result"] is None and 0 < task["done"] < 40
    await ws.close()


async def test_queued_task_cancels_at_once_and_two_run_in_parallel(aiohttp_client, tmp_path, fake_openai):
    """Two slow generations fill both task slots, so a third waits in the queue: cancelling it ends it at once,
    without it ever running. (A slow fake model keeps this independent of how fast the machine is.)"""
    def answer(body):
        uids = sorted(set(re.findall(r"REQ-\d+", body["messages"][-1]["content"])))
        cases = [{"title": f"Check {uid}", "preconditions": "", "steps": [{"action": "do", "expected": "ok"}],
                  "expected_result": "ok", "priority": "high", "type": "functional", "requirement_uids": [uid]}
                 for uid in uids]
        return StructuredOutput(None, {"test_cases": cases}, delay=1.5)

    fake_openai.rule = answer
    settings = make_settings(tmp_path, task_concurrency=2, llm="openai", openai_base_url=fake_openai.base_url,
                             openai_api_key="test", llm_max_retries=0)
    client = await aiohttp_client(await build_app(settings))
    owner = await register_and_login(client)
    project, _ = await project_with_spec(owner, big_spec(4))  # one chunk: one slow model call per task
    ws = await WsClient.connect(client, owner)
    await ws.op("subscribe", topic=f"project:{project['id']}")
    a = (await owner.post("/bot/test-cases", {"project_id": project["id"]})).body["task_id"]
    b = (await owner.post("/bot/test-cases", {"project_id": project["id"]})).body["task_id"]
    c = (await owner.post("/bot/test-cases", {"project_id": project["id"]})).body["task_id"]
    cancelled = await owner.post(f"/tasks/{c}/cancel")
    assert cancelled.status == 202 and cancelled.body["status"] == "cancelled"
    frames = []
    while sum(1 for f in frames if f["name"] in ("task.completed", "task.failed", "task.cancelled")) < 3:
        frames.append(await ws.recv_until(lambda f: f.get("type") == "event" and f["name"].startswith("task."),
                                          timeout=30))
    endings = {f["data"]["task_id"]: f["name"] for f in frames if f["name"] != "task.progress"
               and f["name"] != "task.created"}
    assert endings == {a: "task.completed", b: "task.completed", c: "task.cancelled"}
    started = [f["data"]["task_id"] for f in frames
               if f["name"] == "task.progress" and f["data"].get("stage") == "started"]
    first_end = next(i for i, f in enumerate(frames) if f["name"] == "task.completed")
    assert set(started) == {a, b} and all(frames.index(f) < first_end for f in frames
                                           if f["name"] == "task.progress" and f["data"].get("stage") == "started")
    assert (await owner.get(f"/tasks/{c}")).body["started_at"] is None
    await ws.close()


async def test_the_coverage_summary_tool_lists_a_bounded_part_of_a_big_report(client):
    # A worker reads the report; the tool answers its summary with the first 100 uncovered uids and the count.
    owner = await register_and_login(client)
    project, _ = await project_with_spec(owner, big_spec(150))
    assert (await owner.post("/bot/coverage/sync", {"project_id": project["id"]})).status == 200
    chat = await new_chat(owner, project["id"])
    ws = await WsClient.connect(client, owner)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    summary = await send(ws, chat["id"], "what's the coverage?")
    events = await run_events(ws, summary["data"]["run_id"])
    result = next(e for e in events if e["name"] == "tool.result")["data"]["result"]
    assert result["summary"]["uncovered"] == 150 and result["uncovered_total"] == 150
    assert result["uncovered"] == [f"REQ-{i}" for i in range(1, 101)] and result["orphan_tests_total"] == 0
    assert "rows" not in result
    text = streamed_text(events)
    assert "**0.0%** of 150 requirements" in text and "**REQ-20** … (130 more)" in text
    await ws.close()


async def test_the_agent_starts_tasks_and_reads_reports(client):
    owner = await register_and_login(client)
    project, _ = await project_with_spec(owner)
    chat = await new_chat(owner, project["id"])
    ws = await WsClient.connect(client, owner)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    await ws.op("subscribe", topic=f"project:{project['id']}")

    listed = await send(ws, chat["id"], "list the requirements")
    text = streamed_text(await run_events(ws, listed["data"]["run_id"]))
    assert "REQ-1" in text and "REQ-4" in text and "has 4 requirements" in text

    explained = await send(ws, chat["id"], "explain REQ-2")
    text = streamed_text(await run_events(ws, explained["data"]["run_id"]))
    assert "shorter than 8 characters" in text and "prohibition" in text

    found = await send(ws, chat["id"], "find requirements about tax")
    text = streamed_text(await run_events(ws, found["data"]["run_id"]))
    assert "REQ-4" in text and "REQ-1" not in text

    generate = await send(ws, chat["id"], "generate test cases")
    events = await run_events(ws, generate["data"]["run_id"])
    result = next(e for e in events if e["name"] == "tool.result")["data"]["result"]
    assert result["kind"] == "test_generation"
    assert f"`{result['task_id']}`" in streamed_text(events)
    done = await task_events(ws, result["task_id"])
    assert done[-1]["name"] == "task.completed"

    run = await send(ws, chat["id"], "run coverage analysis")
    events = await run_events(ws, run["data"]["run_id"])
    coverage_task = next(e for e in events if e["name"] == "tool.result")["data"]["result"]["task_id"]
    assert (await task_events(ws, coverage_task))[-1]["name"] == "task.completed"

    summary = await send(ws, chat["id"], "what's the coverage?")
    text = streamed_text(await run_events(ws, summary["data"]["run_id"]))
    assert "**100.0%**" in text and "4 covered" in text

    artifacts = await send(ws, chat["id"], "show the artifacts")
    text = streamed_text(await run_events(ws, artifacts["data"]["run_id"]))
    assert "test_cases" in text and "coverage_report" in text
    await ws.close()


async def test_viewer_chat_cannot_start_tasks(client):
    owner = await register_and_login(client)
    viewer = await register_and_login(client)
    project, _ = await project_with_spec(owner)
    await add_member(owner, project["id"], viewer, "viewer")
    chat = await new_chat(owner, project["id"])  # viewers cannot post in project chats at all
    ws = await WsClient.connect(client, viewer)
    sent = await send(ws, chat["id"], "generate test cases")
    assert sent["ok"] is False and sent["error"]["code"] == "forbidden"
    await ws.close()


async def task_left_behind(client, owner, project_id: str, *, lease_in_s: float, status: str = "running"):
    """A task row as a process that crashed (kill -9) leaves it: running, leased to that process."""
    from storage.models import Task

    lease_until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lease_in_s)
    async with client.app[keys.DB].write() as s:
        task = Task(kind="coverage", project_id=project_id, created_by=owner.id, status=status, params={},
                    lease_owner="dead-host:1", lease_until=lease_until)
        s.add(task)
    return task


async def restart_after_a_crash(aiohttp_client, tmp_path, lease_in_s: float) -> dict:
    """Leave a running task behind, start the app again on the same data, and read the task."""
    settings = make_settings(tmp_path)
    client = await aiohttp_client(await build_app(settings))
    owner = await register_and_login(client)
    project = await create_project(owner)
    task = await task_left_behind(client, owner, project["id"], lease_in_s=lease_in_s)
    await client.close()
    again = await aiohttp_client(await build_app(settings))
    user = owner.__class__(**{**owner.__dict__, "client": again})
    return (await user.get(f"/tasks/{task.id}")).body


async def test_interrupted_tasks_after_a_crash(aiohttp_client, tmp_path):
    task = await restart_after_a_crash(aiohttp_client, tmp_path, lease_in_s=-300)
    assert task["status"] == "interrupted" and "stopped" in task["error"]


async def test_a_task_running_at_a_crash_is_interrupted_at_the_next_start_however_fresh_its_lease(
        aiohttp_client, tmp_path):
    """One process alone (SQLite, no Redis): nobody else can be running it, so the lease does not matter."""
    task = await restart_after_a_crash(aiohttp_client, tmp_path, lease_in_s=50)  # killed -9 a moment ago
    assert task["status"] == "interrupted" and "stopped" in task["error"]


async def test_cancelling_a_task_nobody_runs_ends_it_at_once(client):
    owner = await register_and_login(client)
    project = await create_project(owner)
    orphan = await task_left_behind(client, owner, project["id"], lease_in_s=50)
    r = await owner.post(f"/tasks/{orphan.id}/cancel")
    assert r.status == 202 and r.body["status"] == "cancelled" and "stopped" in r.body["error"]
    assert (await owner.get(f"/tasks/{orphan.id}")).body["status"] == "cancelled"


async def test_deleting_a_project_stops_its_runs(aiohttp_client, tmp_path):
    client = await aiohttp_client(await build_app(make_settings(tmp_path, offline_tokens_per_s=20)))
    owner = await register_and_login(client)
    project, _ = await project_with_spec(owner)
    chat = await new_chat(owner, project["id"])
    ws = await WsClient.connect(client, owner)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    sent = await send(ws, chat["id"], "help")
    await ws.recv_until(lambda f: f.get("name") == "message.delta")
    assert (await owner.delete(f"/projects/{project['id']}")).status == 204
    runs = client.app[keys.RUNS]
    for _ in range(100):
        if not runs.active:
            break
        await asyncio.sleep(0.05)
    assert not runs.active and sent["data"]["run_id"] not in runs.by_run
    await ws.close()


async def test_the_agent_says_when_there_is_no_document_yet(client):
    owner = await register_and_login(client)
    project = await create_project(owner)
    chat = await new_chat(owner, project["id"])
    ws = await WsClient.connect(client, owner)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    for question in ("list the requirements", "generate test cases"):
        sent = await send(ws, chat["id"], question)
        events = await run_events(ws, sent["data"]["run_id"])
        result = next(e for e in events if e["name"] == "tool.result")["data"]["result"]
        assert "no document version yet" in result["error"]
        assert "no document version yet" in streamed_text(events)
    listed = await owner.get(f"/tasks?project_id={project['id']}")
    assert listed.body["total"] == 0  # nothing was started
    await ws.close()


async def test_one_user_can_have_only_so_many_tasks_at_once(aiohttp_client, tmp_path):
    client = await aiohttp_client(await build_app(make_settings(tmp_path, max_tasks_per_user=2)))
    owner = await register_and_login(client)
    other = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    await add_member(owner, pid, other, "editor")
    assert (await owner.post(f"/projects/{pid}/document-versions", {"title": "Spec", "content": SPEC})).status == 201
    for status in ("queued", "running"):  # two of the owner's tasks are still busy
        await task_left_behind(client, owner, pid, lease_in_s=300, status=status)
    refused = await owner.post("/bot/coverage", {"project_id": pid})
    assert refused.status == 429 and refused.body["error"]["code"] == "rate_limited"
    assert "2 tasks" in refused.body["error"]["message"] and int(refused.headers["Retry-After"]) > 0
    assert (await other.post("/bot/coverage", {"project_id": pid})).status == 202  # a quota per user
