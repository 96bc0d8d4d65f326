"""The OpenAI provider end to end: worker processes run the real langchain-openai ChatOpenAI against a
local fake that speaks the Chat Completions streaming wire format."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.chatutil import new_chat, run_events, send, streamed_text
from tests.conftest import build_app, make_settings
from tests.fakes.openai_server import (  # noqa: F401 - fake_openai is a fixture
    Disconnect,
    Error,
    MalformedChunk,
    Slow,
    StreamError,
    StructuredOutput,
    Text,
    ToolCall,
    fake_openai,
)
from tests.helpers import register_and_login
from tests.wsutil import WsClient


async def openai_client(aiohttp_client, tmp_path, fake):
    settings = make_settings(tmp_path, llm="openai", openai_base_url=fake.base_url, openai_api_key="test",
                             llm_model="fake-model", llm_max_retries=0, llm_timeout_s=10)
    client = await aiohttp_client(await build_app(settings))
    user = await register_and_login(client)
    chat = await new_chat(user)
    ws = await WsClient.connect(client, user)
    assert (await ws.op("subscribe", topic=f"chat:{chat['id']}"))["ok"]
    return client, user, chat, ws


async def test_a_turn_with_a_tool_call_and_streamed_text(aiohttp_client, tmp_path, fake_openai):
    fake_openai.script([ToolCall("list_requirements", {}), Text("There is nothing to list in a personal chat.")])
    client, user, chat, ws = await openai_client(aiohttp_client, tmp_path, fake_openai)
    sent = await send(ws, chat["id"], "What are the requirements?")
    events = await run_events(ws, sent["data"]["run_id"])
    names = [e["name"] for e in events]
    assert names.index("tool.call") < names.index("tool.result") < names.index("message.completed")
    call = next(e for e in events if e["name"] == "tool.call")
    assert call["data"]["name"] == "list_requirements"
    deltas = [e for e in events if e["name"] == "message.delta"]
    assert streamed_text(events) == "There is nothing to list in a personal chat."
    assert events[-1]["data"]["message"]["content"] == "There is nothing to list in a personal chat."
    assert events[-1]["data"]["message"]["tool_calls"][0]["name"] == "list_requirements"
    assert len(deltas) >= 1
    first, second = fake_openai.requests[0], fake_openai.requests[1]
    assert first["stream"] is True and first["model"] == "fake-model"
    assert first["messages"][0]["role"] == "system" and first["messages"][-1]["content"] == "What are the requirements?"
    assert {t["function"]["name"] for t in first["tools"]} >= {"list_requirements", "generate_test_cases"}
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool" and "not attached to a project" in tool_message["content"]
    await ws.close()


async def test_history_comes_from_the_database_each_turn(aiohttp_client, tmp_path, fake_openai):
    fake_openai.script([Text("First answer."), Text("Second answer.")])
    client, user, chat, ws = await openai_client(aiohttp_client, tmp_path, fake_openai)
    first = await send(ws, chat["id"], "one")
    await run_events(ws, first["data"]["run_id"])
    user_message = first["data"]["user_message"]["id"]
    edited = await user.patch(f"/chat/messages/{user_message}", {"content": "one, edited"})
    assert edited.status == 200
    second = await send(ws, chat["id"], "two")
    await run_events(ws, second["data"]["run_id"])
    history = [(m["role"], m["content"]) for m in fake_openai.requests[-1]["messages"]]
    assert history == [history[0], ("user", "one, edited"), ("assistant", "First answer."), ("user", "two")]
    await ws.close()


@pytest.mark.parametrize("turn, partial, says", [
    (Error(status=429, message="slow down"), "", "rate limiting"),
    (Error(status=500, message="upstream broke"), "", "(500)"),
    (MalformedChunk(after_text="Half an "), "Half an ", "malformed"),
    (Disconnect(after_text="Cut off "), "Cut off ", "cut off"),
    (StreamError(after_text="Then ", message="overloaded"), "Then ", "overloaded"),
])
async def test_upstream_failures_fail_the_run_keeping_partial_text(aiohttp_client, tmp_path, fake_openai,
                                                                    turn, partial, says):
    fake_openai.script([turn])
    client, user, chat, ws = await openai_client(aiohttp_client, tmp_path, fake_openai)
    sent = await send(ws, chat["id"], "hello")
    events = await run_events(ws, sent["data"]["run_id"])
    end = events[-1]
    assert end["name"] == "run.failed"
    assert says in end["data"]["error"]
    message = end["data"]["message"]
    assert message["status"] == "failed" and message["content"] == partial and says in message["error"]
    await ws.close()


async def test_cancel_closes_the_upstream_stream(aiohttp_client, tmp_path, fake_openai):
    full = "one two three four five six seven eight nine ten " * 5
    fake_openai.script([Slow(full, delay_per_chunk=0.05)])
    client, user, chat, ws = await openai_client(aiohttp_client, tmp_path, fake_openai)
    sent = await send(ws, chat["id"], "count slowly")
    run_id = sent["data"]["run_id"]
    seen = []
    while "one two" not in streamed_text(seen):  # cancel once the reply is known to be under way
        seen.append(await ws.recv_until(lambda f: f.get("name") == "message.delta"))
    await ws.op("chat.cancel", session_id=chat["id"])
    events = await run_events(ws, run_id)
    assert events[-1]["name"] == "run.cancelled"
    content = events[-1]["data"]["message"]["content"]
    assert content.startswith(streamed_text(seen)) and len(content) < len(full.strip())
    await fake_openai.wait_for_disconnects(1)
    await ws.close()


def test_openai_provider_without_a_key_is_refused_at_start():
    from chatsvc.settings import Settings

    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        Settings.from_env({"CHATSVC_LLM": "openai"})


async def test_the_agent_starts_tasks_through_the_same_checks_as_rest(aiohttp_client, tmp_path, fake_openai):
    # generate_test_cases with an id the document does not have is refused, as POST /bot/test-cases refuses it
    # (422), and no task is created; the model is told why.
    from tests.helpers import create_project

    fake_openai.script([ToolCall("generate_test_cases", {"requirement_uids": ["REQ-1", "NOPE-9"]}),
                        Text("That requirement does not exist.")])
    client, user, _chat, ws = await openai_client(aiohttp_client, tmp_path, fake_openai)
    project = await create_project(user)
    await user.post(f"/projects/{project['id']}/document-versions",
                    {"title": "Spec", "content": "- REQ-1: The system shall log in users."})
    rest = await user.post("/bot/test-cases", {"project_id": project["id"], "requirement_uids": ["NOPE-9"]})
    assert rest.status == 422 and "NOPE-9" in rest.body["error"]["details"][0]["msg"]
    chat = await new_chat(user, project["id"])
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    sent = await send(ws, chat["id"], "Write tests for REQ-1 and NOPE-9")
    events = await run_events(ws, sent["data"]["run_id"])
    result = next(e for e in events if e["name"] == "tool.result")["data"]["result"]
    assert "NOPE-9" in result["error"] and "task_id" not in result
    assert (await user.get(f"/tasks?project_id={project['id']}")).body["total"] == 0
    await ws.close()


async def test_text_before_a_pause_is_checkpointed_within_the_second(aiohttp_client, tmp_path, fake_openai):
    """A model that pauses (thinking, a slow backend) right after a checkpoint must not leave its last words only
    in memory: checkpoints come from a ticker, not from the next token, so a crash in the pause keeps them."""
    chunks = ["One. ", "Two. ", "Three. ", "Four."]
    fake_openai.script([Text(chunks, delay_per_chunk=[0.0, 0.9, 0.6, 4.0])])
    client, user, chat, ws = await openai_client(aiohttp_client, tmp_path, fake_openai)
    sent = await send(ws, chat["id"], "Take your time.")
    run_id, reply_id = sent["data"]["run_id"], sent["data"]["assistant_message"]["id"]
    await ws.recv_until(lambda f: f.get("name") == "message.delta" and f["data"]["run_id"] == run_id
                        and "Three" in f["data"]["text"], timeout=10)
    await asyncio.sleep(1.3)  # well inside the pause, more than a second after "Three." arrived
    listing = await user.get(f"/chat/sessions/{chat['id']}/messages")
    stored = next(m for m in listing.body["items"] if m["id"] == reply_id)
    assert stored["status"] == "streaming" and stored["content"] == "One. Two. Three. "
    events = await run_events(ws, run_id)
    assert events[-1]["data"]["message"]["content"] == "One. Two. Three. Four."
    await ws.close()


# --- test generation with a model that answers badly: repaired where possible, the offline generator for the rest --

SPEC = """# Payments

REQ-1: The system shall not accept amounts above 10 EUR.
REQ-2: Passwords must be 8 to 32 characters.
REQ-3: The user shall be able to export receipts as PDF.
REQ-4: The page shall load in under 1 second (1000ms).
"""


def model_case(uid: str, title: str, **extra: Any) -> dict[str, Any]:
    return {"title": title, "preconditions": "Signed in.", "steps": [{"action": "Do it.", "expected": "Done."}],
            "expected_result": "It works.", "priority": "high", "type": "functional", "requirement_uids": [uid],
            **extra}


async def generate_with(aiohttp_client, tmp_path, fake, *turns) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Generate test cases for SPEC with the model answering `turns`; return the finished task and its cases."""
    from chatsvc.schemas.artifacts import validate_content
    from tests.helpers import create_project

    fake.script(list(turns))
    client, user, _chat, ws = await openai_client(aiohttp_client, tmp_path, fake)
    await ws.close()
    project = await create_project(user)
    created = await user.post(f"/projects/{project['id']}/document-versions", {"title": "Spec", "content": SPEC})
    assert created.status == 201 and created.body["requirement_count"] == 4, created.body
    started = await user.post("/bot/test-cases", {"project_id": project["id"]})
    assert started.status == 202, started.body
    for _ in range(600):
        task = (await user.get(f"/tasks/{started.body['task_id']}")).body
        if task["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.05)
    assert task["status"] == "succeeded", task
    artifact = (await user.get(f"/artifacts/{task['result']['artifact_id']}")).body
    cases = artifact["content"]["test_cases"]
    assert validate_content("test_cases", artifact["content"])["test_cases"] == cases
    assert len({c["id"] for c in cases}) == len(cases)
    assert {u for c in cases for u in c["requirement_uids"]} == {"REQ-1", "REQ-2", "REQ-3", "REQ-4"}
    assert all(c["links"][0]["fingerprint"] and c["id"].startswith("TC-") for c in cases)
    request = fake.requests[-len(turns)]
    assert request["tool_choice"]["function"]["name"] == "LlmTestCaseBatch"  # structured output was asked for
    result = task["result"]
    assert result["test_case_count"] == len(cases) == result["model_case_count"] + result["offline_case_count"]
    assert result["model_case_count"] == sum(1 for c in cases if c["source"] == "model")
    assert task["stage"] == result["message"]
    return task, cases


def sources(cases: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for case in cases:
        out.setdefault(case["requirement_uids"][0], set()).add(case["source"])
    return out


async def test_a_model_answering_in_prose_falls_back_to_the_offline_generator(aiohttp_client, tmp_path,
                                                                              fake_openai):
    prose = Text("Sure! For REQ-1 you should test amounts around 10 EUR, and for REQ-2 try short passwords.")
    task, cases = await generate_with(aiohttp_client, tmp_path, fake_openai, prose)
    assert sources(cases) == {uid: {"offline"} for uid in ("REQ-1", "REQ-2", "REQ-3", "REQ-4")}
    assert task["result"]["model_case_count"] == 0 and task["result"]["rejected_model_cases"] == 0
    assert "0 from the model" in task["result"]["message"] and "offline generator" in task["result"]["message"]
    titles = [c["title"] for c in cases]
    assert 'Boundary: 10.01 EUR rejected (just above "above 10 EUR")' in titles
    assert 'Boundary: 1000 ms violates the limit (at "under 1 second")' in titles


async def test_json_in_a_code_fence_is_used(aiohttp_client, tmp_path, fake_openai):
    cases = [model_case("REQ-1", "Reject 10.01 EUR", type="boundary"),
             model_case("REQ-2", "Accept a password of 8 characters"),
             model_case("REQ-3", "Export a receipt as PDF"), model_case("REQ-4", "Load the page in 999 ms")]
    fenced = Text(f"Here are the test cases:\n```json\n{json.dumps({'test_cases': cases}, indent=1)}\n```\nEnjoy!")
    task, written = await generate_with(aiohttp_client, tmp_path, fake_openai, fenced)
    assert [c["title"] for c in written] == [c["title"] for c in cases]
    assert {c["source"] for c in written} == {"model"}
    assert task["result"]["model_case_count"] == 4 and task["result"]["offline_case_count"] == 0
    assert task["result"]["message"] == "Wrote 4 test cases for 4 requirements: 4 from the model, 0 from the offline " \
                                        "generator."


async def test_invalid_model_cases_are_dropped_and_their_requirements_get_offline_cases(aiohttp_client, tmp_path,
                                                                                        fake_openai):
    cases = [model_case("REQ-1", "Reject 10.01 EUR", type="Edge", priority="HIGH"),  # repaired: boundary, high
             model_case("REQ-2", "No steps", steps=[]),  # invalid: no steps
             model_case("REQ-9", "Not a requirement of this chunk"),  # invalid: names no requirement here
             model_case("REQ-3", "Export a receipt as PDF", steps=["Open a receipt", "Press Export"])]  # repaired
    task, written = await generate_with(aiohttp_client, tmp_path, fake_openai,
                                        StructuredOutput(None, {"test_cases": cases}))
    assert sources(written) == {"REQ-1": {"model"}, "REQ-2": {"offline"}, "REQ-3": {"model"}, "REQ-4": {"offline"}}
    repaired = next(c for c in written if c["title"] == "Reject 10.01 EUR")
    assert repaired["type"] == "boundary" and repaired["priority"] == "high"
    steps = next(c for c in written if c["title"] == "Export a receipt as PDF")["steps"]
    assert steps == [{"action": "Open a receipt", "expected": ""}, {"action": "Press Export", "expected": ""}]
    result = task["result"]
    assert result["model_case_count"] == 2 and result["rejected_model_cases"] == 2
    assert result["offline_case_count"] == len(written) - 2
    assert "2 invalid model cases were dropped" in result["message"]
    # the order is the requirements' order, model cases where valid, offline ones elsewhere
    assert [c["requirement_uids"][0] for c in written] == sorted(c["requirement_uids"][0] for c in written)


async def test_a_broken_function_call_is_repaired_from_its_arguments_text(aiohttp_client, tmp_path, fake_openai):
    good = json.dumps({"test_cases": [model_case("REQ-2", "Reject a password of 33 characters", type="negative")]})
    broken = ToolCall("LlmTestCaseBatch", "Arguments: " + good + " (end)")  # not JSON as a whole
    task, written = await generate_with(aiohttp_client, tmp_path, fake_openai, broken)
    assert sources(written) == {"REQ-1": {"offline"}, "REQ-2": {"model"}, "REQ-3": {"offline"},
                                "REQ-4": {"offline"}}
    assert task["result"]["model_case_count"] == 1


async def test_a_server_refusing_function_calls_is_asked_for_json_text(aiohttp_client, tmp_path, fake_openai):
    cases = [model_case(f"REQ-{i}", f"Case {i}") for i in range(1, 5)]
    refused = Error(status=400, message="tool_choice is not supported by this server")
    task, written = await generate_with(aiohttp_client, tmp_path, fake_openai, refused,
                                        Text(json.dumps({"test_cases": cases})))
    assert "tools" not in fake_openai.requests[-1]  # the second request asks for text
    assert {c["source"] for c in written} == {"model"} and task["result"]["model_case_count"] == 4
