"""What a chat does with a prompt and its reply, as its users see it: chats named after their first message,
deleting a prompt deletes its reply, a regenerate belongs to its prompt, who stopped a reply, and tool results
kept with the reply that used them."""

from __future__ import annotations

from tests.chatutil import ENDINGS, new_chat, run_events, send, streaming_reply
from tests.conftest import build_app, make_settings
from tests.helpers import create_project, register_and_login
from tests.wsutil import WsClient


async def messages(user, chat_id: str) -> list[dict]:
    r = await user.get(f"/chat/sessions/{chat_id}/messages?limit=100")
    assert r.status == 200, r.body
    return r.body["items"]


async def test_a_new_chat_is_named_after_its_first_message(client):
    user = await register_and_login(client)
    fresh = await user.post("/chat/sessions", {})
    assert fresh.status == 201 and fresh.body["title"] == "New chat"
    ws = await WsClient.connect(client, user)
    await ws.op("subscribe", topic=f"chat:{fresh.body['id']}")
    first = ("## How do I **export** the coverage report of version 3 as a CSV file for the auditors, please? "
             "And the HTML one too.\nSecond line")
    sent = await send(ws, fresh.body["id"], first)
    renamed = await ws.recv_until(lambda f: f.get("name") == "chat_session.updated")
    title = renamed["data"]["resource"]["title"]
    assert title == (await user.get(f"/chat/sessions/{fresh.body['id']}")).body["title"]
    assert title.startswith("How do I export the coverage report") and title.endswith("…") and len(title) <= 60
    await run_events(ws, sent["data"]["run_id"])
    await send(ws, fresh.body["id"], "another question")
    assert (await user.get(f"/chat/sessions/{fresh.body['id']}")).body["title"] == title  # only the first names it

    named = await new_chat(user, title="Release 2.4 questions")
    await send(ws, named["id"], "hello there")
    assert (await user.get(f"/chat/sessions/{named['id']}")).body["title"] == "Release 2.4 questions"
    await ws.close()


async def test_a_reply_sorts_after_its_prompt_by_time(client):
    # Clients order a chat's messages by created_at, then id; ids are random within a millisecond, so a reply
    # created in the same send as its prompt must be later, or it may show above the question it answers.
    user = await register_and_login(client)
    chat = await new_chat(user)
    ws = await WsClient.connect(client, user)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    for n in range(12):
        sent = await send(ws, chat["id"], f"question {n}")
        await run_events(ws, sent["data"]["run_id"])
    listed = await messages(user, chat["id"])
    by_time = sorted(listed, key=lambda m: (m["created_at"], m["id"]))
    assert [m["role"] for m in by_time] == ["user", "assistant"] * 12
    assert [m["content"] for m in by_time[::2]] == [f"question {n}" for n in range(12)]
    await ws.close()


async def test_deleting_a_prompt_deletes_its_reply_and_stops_it_if_it_is_still_being_written(
        aiohttp_client, tmp_path):
    client = await aiohttp_client(await build_app(make_settings(tmp_path, offline_tokens_per_s=20)))
    user, chat, ws, sent = await streaming_reply(client)
    prompt = next(m for m in await messages(user, chat["id"]) if m["role"] == "user")
    assert (await user.delete(f"/chat/messages/{prompt['id']}")).status == 204
    ended = await ws.recv_until(lambda f: f.get("name") in ENDINGS)
    assert ended["name"] == "run.cancelled" and ended["data"]["cancelled_by"] is None  # the server stopped it
    deleted = [await ws.recv_until(lambda f: f.get("name") == "message.deleted") for _ in range(2)]
    assert {d["data"]["id"] for d in deleted} == {prompt["id"], ended["data"]["message_id"]}
    assert await messages(user, chat["id"]) == []
    await ws.close()


async def test_deleting_an_answered_prompt_leaves_the_other_exchanges(client):
    user = await register_and_login(client)
    chat = await new_chat(user)
    ws = await WsClient.connect(client, user)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    for text in ("first question", "second question"):
        await run_events(ws, (await send(ws, chat["id"], text))["data"]["run_id"])
    first = next(m for m in await messages(user, chat["id"]) if m["content"] == "first question")
    assert (await user.delete(f"/chat/messages/{first['id']}")).status == 204
    left = await messages(user, chat["id"])
    assert [m["role"] for m in left] == ["user", "assistant"] and left[0]["content"] == "second question"
    assert left[1]["run_id"] == left[0]["run_id"]
    await ws.close()


async def test_regenerating_an_unchanged_prompt_is_not_an_edit_and_the_new_reply_belongs_to_it(client):
    user = await register_and_login(client)
    chat = await new_chat(user)
    ws = await WsClient.connect(client, user)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    await run_events(ws, (await send(ws, chat["id"], "help"))["data"]["run_id"])
    prompt = (await messages(user, chat["id"]))[0]
    r = await user.patch(f"/chat/messages/{prompt['id']}", {"content": "help", "regenerate": True})
    assert r.status == 200 and r.body["edited_at"] is None
    relinked = await ws.recv_until(lambda f: f.get("name") == "message.updated" and f["data"]["resource"]["run_id"]
                                   != prompt["run_id"])
    new_run = relinked["data"]["resource"]["run_id"]
    await run_events(ws, new_run)
    prompt_now, reply = await messages(user, chat["id"])
    assert prompt_now["run_id"] == reply["run_id"] == new_run and prompt_now["edited_at"] is None
    assert (await user.delete(f"/chat/messages/{prompt_now['id']}")).status == 204  # its reply goes with it
    assert await messages(user, chat["id"]) == []
    await ws.close()


async def test_a_stopped_reply_says_who_stopped_it(aiohttp_client, tmp_path):
    client = await aiohttp_client(await build_app(make_settings(tmp_path, offline_tokens_per_s=20)))
    user, chat, ws, sent = await streaming_reply(client)
    assert (await user.post(f"/chat/sessions/{chat['id']}/cancel")).status == 202
    ended = (await run_events(ws, sent["run_id"]))[-1]
    assert ended["name"] == "run.cancelled" and ended["data"]["cancelled_by"] == user.id
    assert ended["data"]["message"]["cancelled_by"] == user.id  # stored: it is there after a reload too
    reply = [m for m in await messages(user, chat["id"]) if m["role"] == "assistant"][0]
    assert reply["status"] == "cancelled" and reply["cancelled_by"] == user.id
    await ws.close()


async def test_a_reply_keeps_the_results_of_its_tool_calls(client):
    """"Open result" links need the tool's result after a reload and for another member: it is stored."""
    owner = await register_and_login(client)
    project = await create_project(owner)
    assert (await owner.post(f"/projects/{project['id']}/document-versions",
                             {"title": "Spec", "content": "REQ-1: The system shall log in users."})).status == 201
    chat = await new_chat(owner, project["id"])
    ws = await WsClient.connect(client, owner)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    events = await run_events(ws, (await send(ws, chat["id"], "generate test cases"))["data"]["run_id"])
    result = next(e for e in events if e["name"] == "tool.result")["data"]["result"]
    reply = (await messages(owner, chat["id"]))[-1]
    assert reply["tool_calls"][0]["result"]["task_id"] == result["task_id"]
    await ws.close()
