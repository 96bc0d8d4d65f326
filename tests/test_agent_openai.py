"""The OpenAI provider end to end: worker processes run the real langchain-openai ChatOpenAI against a
local fake that speaks the Chat Completions streaming wire format."""

from __future__ import annotations

import asyncio

import pytest

from tests.chatutil import new_chat, run_events, send, streamed_text
from tests.conftest import build_app, make_settings
from tests.fakes.openai_server import (  # noqa: F401 - fake_openai is a fixture
    Disconnect,
    Error,
    MalformedChunk,
    Slow,
    StreamError,
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
