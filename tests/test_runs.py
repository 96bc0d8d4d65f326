"""Chat runs with the offline model: streaming over the websocket, idempotency, busy policies, cancel,
disconnects, restarts."""

from __future__ import annotations

import asyncio

from chatsvc import keys
from tests.chatutil import new_chat, run_events, send, streamed_text, streaming_reply
from tests.conftest import build_app, make_settings
from tests.helpers import assert_error, register_and_login
from tests.wsutil import WsClient


async def test_help_streams_word_by_word_and_completes(client):
    user = await register_and_login(client)
    chat = await new_chat(user)
    ws = await WsClient.connect(client, user)
    assert (await ws.op("subscribe", topic=f"chat:{chat['id']}"))["ok"]
    sent = await send(ws, chat["id"], "help")
    assert sent["ok"], sent
    data = sent["data"]
    assert data["created"] is True and data["user_message"]["content"] == "help"
    assert data["assistant_message"]["status"] == "streaming"
    events = await run_events(ws, data["run_id"])
    names = [e["name"] for e in events]
    assert names[0] == "message.created" and "run.started" in names and names[-1] == "message.completed"
    text = streamed_text(events)
    assert "offline model" in text
    final = events[-1]["data"]["message"]
    assert final["status"] == "complete" and final["content"] == text
    listing = await user.get(f"/chat/sessions/{chat['id']}/messages")
    assert [m["role"] for m in listing.body["items"]] == ["user", "assistant"]
    assert listing.body["items"][1]["content"] == text
    await ws.close()


async def test_personal_chat_tools_explain_there_is_no_project(client):
    user = await register_and_login(client)
    chat = await new_chat(user)
    ws = await WsClient.connect(client, user)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    sent = await send(ws, chat["id"], "list the requirements")
    events = await run_events(ws, sent["data"]["run_id"])
    names = [e["name"] for e in events]
    assert "tool.call" in names and "tool.result" in names
    assert "not attached to a project" in streamed_text(events)
    await ws.close()


async def test_client_msg_id_makes_send_idempotent(client):
    user = await register_and_login(client)
    chat = await new_chat(user)
    ws = await WsClient.connect(client, user)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    first = await send(ws, chat["id"], "help", client_msg_id="same-key")
    await run_events(ws, first["data"]["run_id"])
    again = await send(ws, chat["id"], "help", client_msg_id="same-key")
    assert again["data"]["created"] is False
    assert again["data"]["user_message"]["id"] == first["data"]["user_message"]["id"]
    assert again["data"]["assistant_message"]["id"] == first["data"]["assistant_message"]["id"]
    listing = await user.get(f"/chat/sessions/{chat['id']}/messages")
    assert len(listing.body["items"]) == 2
    await ws.close()


async def slow_client(aiohttp_client, tmp_path, tokens_per_s: float = 40):
    return await aiohttp_client(await build_app(make_settings(tmp_path, offline_tokens_per_s=tokens_per_s)))


async def test_busy_policies(aiohttp_client, tmp_path):
    client = await slow_client(aiohttp_client, tmp_path)
    user = await register_and_login(client)
    chat = await new_chat(user)
    ws = await WsClient.connect(client, user)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    first = await send(ws, chat["id"], "help")
    rejected = await send(ws, chat["id"], "help again")
    assert rejected["ok"] is False and rejected["error"]["code"] == "run_active"
    queued = await send(ws, chat["id"], "help later", if_busy="enqueue")
    assert queued["ok"]
    first_events = await run_events(ws, first["data"]["run_id"])
    assert first_events[-1]["name"] == "message.completed"
    queued_events = await run_events(ws, queued["data"]["run_id"])
    assert queued_events[-1]["name"] == "message.completed"
    third = await send(ws, chat["id"], "help")
    await ws.recv_until(lambda f: f.get("name") == "message.delta" and f["data"]["run_id"] == third["data"]["run_id"])
    interrupting = await send(ws, chat["id"], "list artifacts", if_busy="interrupt")
    assert interrupting["ok"]
    ended = await run_events(ws, third["data"]["run_id"])
    assert ended[-1]["name"] == "run.cancelled"
    last = await run_events(ws, interrupting["data"]["run_id"])
    assert last[-1]["name"] == "message.completed"
    await ws.close()


async def test_replies_per_user_are_limited_with_a_clear_429(aiohttp_client, tmp_path):
    """max_runs_per_user replies of one user may stream or wait at once; one more answers 429 rate_limited with
    Retry-After (REST) or a retryable error (websocket), and nothing of it is stored; other users are not held."""
    client = await aiohttp_client(await build_app(make_settings(tmp_path, offline_tokens_per_s=30,
                                                                max_runs_per_user=2)))
    user, other = await register_and_login(client), await register_and_login(client)
    chats_ = [await new_chat(user, title=f"c{i}") for i in range(3)]
    ws = await WsClient.connect(client, user)
    first = await send(ws, chats_[0]["id"], "help")
    queued = await send(ws, chats_[0]["id"], "help later", if_busy="enqueue")  # queued ones count too
    assert first["ok"] and queued["ok"]
    refused = await user.post(f"/chat/sessions/{chats_[1]['id']}/messages", {"content": "help"})
    assert_error(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    over = await send(ws, chats_[2]["id"], "help")
    assert over["ok"] is False and over["error"]["code"] == "rate_limited" and over["error"]["retryable"]
    assert (await user.get(f"/chat/sessions/{chats_[1]['id']}/messages")).body["items"] == []
    theirs = await new_chat(other)
    assert (await other.post(f"/chat/sessions/{theirs['id']}/messages", {"content": "help"})).status == 202
    await ws.op("subscribe", topic=f"chat:{chats_[0]['id']}")
    for sent in (first, queued):  # stop the first; the queued one starts; stop it too
        if sent is queued:
            run_id = sent["data"]["run_id"]
            await ws.recv_until(lambda f, r=run_id: f.get("name") == "run.started" and f["data"]["run_id"] == r)
        assert (await ws.op("chat.cancel", session_id=chats_[0]["id"]))["ok"]
        assert (await run_events(ws, sent["data"]["run_id"]))[-1]["name"] == "run.cancelled"
    assert (await user.post(f"/chat/sessions/{chats_[1]['id']}/messages", {"content": "help"})).status == 202
    await ws.close()


async def test_cancel_keeps_partial_text(aiohttp_client, tmp_path):
    client = await slow_client(aiohttp_client, tmp_path, tokens_per_s=30)
    user, chat, ws, sent = await streaming_reply(client)
    run_id = sent["run_id"]
    cancelled = await ws.op("chat.cancel", session_id=chat["id"])
    assert cancelled["data"] == {"cancelled": True, "run_id": run_id}
    events = await run_events(ws, run_id)
    assert events[-1]["name"] == "run.cancelled"
    message = events[-1]["data"]["message"]
    assert message["status"] == "cancelled" and message["content"]
    assert "Configure an OpenAI-compatible" not in message["content"]  # stopped before the end
    again = await ws.op("chat.cancel", session_id=chat["id"])
    assert again["data"] == {"cancelled": False, "run_id": None}
    await ws.close()


async def test_disconnect_does_not_stop_the_run_and_a_late_subscriber_gets_everything(aiohttp_client, tmp_path):
    # Slow enough (5 tokens/s) that the reply is still streaming when the late socket subscribes, however
    # loaded the machine; the test stops it once it has seen it go on without the first socket.
    client = await slow_client(aiohttp_client, tmp_path, tokens_per_s=5)
    user, chat, ws, sent = await streaming_reply(client)
    run_id = sent["run_id"]
    await ws.close()
    late = await WsClient.connect(client, user)
    sub = await late.op("subscribe", topic=f"chat:{chat['id']}")
    assert sub["ok"]
    snapshot = await late.recv_until(lambda f: f.get("name") == "message.delta")
    assert snapshot["data"]["snapshot"] is True and snapshot["data"]["offset"] == 0 and snapshot["data"]["text"]
    live = await late.recv_until(lambda f: f.get("name") == "message.delta")  # it went on after the disconnect
    assert live["data"]["offset"] >= len(snapshot["data"]["text"])
    await late.op("chat.cancel", session_id=chat["id"])
    events = [snapshot, live] + await run_events(late, run_id)
    assert events[-1]["name"] == "run.cancelled"
    text = streamed_text(events)
    assert text == events[-1]["data"]["message"]["content"]
    assert "I'm chatsvc's built-in **offline model**".startswith(text) or text.startswith("I'm chatsvc's built-in")
    await late.close()


async def test_a_run_cut_by_shutdown_is_interrupted_with_its_partial_text(aiohttp_client, tmp_path):
    settings = make_settings(tmp_path, offline_tokens_per_s=30)
    client = await aiohttp_client(await build_app(settings))
    user, chat, ws, sent = await streaming_reply(client)
    await client.close()  # graceful shutdown mid-run
    again = await aiohttp_client(await build_app(settings))
    reply = sent["assistant_message"]["id"]
    async with again.app[keys.DB].read() as s:
        from storage import chats

        message = await chats.get_message(s, reply)
    assert message is not None and message.status == "interrupted" and message.content


async def test_crash_leftovers_become_interrupted_at_start(aiohttp_client, tmp_path):
    settings = make_settings(tmp_path)
    client = await aiohttp_client(await build_app(settings))
    user = await register_and_login(client)
    chat = await new_chat(user)
    from storage import chats

    async with client.app[keys.DB].write() as s:
        orphan = await chats.add_message(s, chat["id"], "assistant", "half a repl", None, status="streaming")
    await client.close()
    again = await aiohttp_client(await build_app(settings))
    async with again.app[keys.DB].read() as s:
        message = await chats.get_message(s, orphan.id)
    assert message.status == "interrupted" and message.content == "half a repl"


async def read_sse(resp) -> list[tuple[str, dict]]:
    """Parse a whole SSE response into (event, data) pairs."""
    import json

    events, name, data = [], None, []
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and name:
            events.append((name, json.loads("".join(data))))
            name, data = None, []
    return events


async def test_sse_streams_message_deltas_tools_and_done(client):
    user = await register_and_login(client)
    chat = await new_chat(user)
    headers = {**user.headers, "Accept": "text/event-stream"}
    async with client.post(f"/api/v1/chat/sessions/{chat['id']}/messages", json={"content": "list requirements"},
                           headers=headers) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        events = await read_sse(resp)
    names = [n for n, _ in events]
    assert names[0] == "message" and names[-1] == "done"
    assert events[0][1]["content"] == "list requirements"
    tools = [d for n, d in events if n == "tool"]
    assert tools[0]["name"] == "list_requirements" and "args" in tools[0] and "result" in tools[1]
    text = ""
    for name, data in events:
        if name == "delta":
            assert data["offset"] == len(text)
            text += data["text"]
    assert events[-1][1]["content"] == text and events[-1][1]["status"] == "complete"


async def test_sse_reports_refusals_as_json_before_streaming(aiohttp_client, tmp_path):
    client = await slow_client(aiohttp_client, tmp_path)
    user = await register_and_login(client)
    chat = await new_chat(user)
    url = f"/api/v1/chat/sessions/{chat['id']}/messages"
    first = await user.post(f"/chat/sessions/{chat['id']}/messages", {"content": "help"})
    assert first.status == 202
    async with client.post(url, json={"content": "again"}, headers={**user.headers, "Accept": "text/event-stream"}) \
            as resp:
        assert resp.status == 409 and (await resp.json())["error"]["code"] == "run_active"
    stop = await user.post(f"/chat/sessions/{chat['id']}/cancel")
    assert stop.status == 202 and stop.body == {"cancelled": True, "run_id": first.body["run_id"]}


async def test_rest_post_streams_on_the_websocket_and_regenerate_answers_again(client):
    user = await register_and_login(client)
    chat = await new_chat(user)
    ws = await WsClient.connect(client, user)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    sent = await user.post(f"/chat/sessions/{chat['id']}/messages", {"content": "helo", "client_msg_id": "k1"})
    assert sent.status == 202
    events = await run_events(ws, sent.body["run_id"])
    assert events[-1]["name"] == "message.completed"
    retry = await user.post(f"/chat/sessions/{chat['id']}/messages", {"content": "helo", "client_msg_id": "k1"})
    assert retry.status == 202 and retry.body["run_id"] == sent.body["run_id"]
    edited = await user.patch(f"/chat/messages/{sent.body['user_message']['id']}", {"content": "help",
                                                                                   "regenerate": True})
    assert edited.status == 200
    reply = await ws.recv_until(lambda f: f.get("name") == "run.started")
    events = await run_events(ws, reply["data"]["run_id"])
    assert "offline model" in streamed_text(events)
    messages = (await user.get(f"/chat/sessions/{chat['id']}/messages")).body["items"]
    assert [(m["role"], m["status"]) for m in messages] == [("user", "complete"), ("assistant", "complete")]
    assert messages[0]["content"] == "help" and messages[1]["id"] != sent.body["assistant_message"]["id"]
    await ws.close()


async def test_a_streaming_reply_is_checkpointed_every_second(aiohttp_client, tmp_path):
    client = await slow_client(aiohttp_client, tmp_path, tokens_per_s=5)  # still streaming when we look
    user, chat, ws, sent = await streaming_reply(client)
    reply_id = sent["assistant_message"]["id"]
    await asyncio.sleep(1.6)
    listing = await user.get(f"/chat/sessions/{chat['id']}/messages")
    stored = next(m for m in listing.body["items"] if m["id"] == reply_id)
    assert stored["status"] == "streaming" and stored["content"]  # the text so far is already in the database
    await ws.op("chat.cancel", session_id=chat["id"])
    await run_events(ws, sent["run_id"])
    await ws.close()


async def test_a_refused_regenerate_leaves_the_streaming_reply_alone(aiohttp_client, tmp_path):
    # An editor may write in the project chat but may not edit (or regenerate) the owner's message: the
    # refusal must come before any side effect, so the owner's reply streams on and completes.
    from tests.helpers import add_member, create_project

    client = await slow_client(aiohttp_client, tmp_path, tokens_per_s=100)
    owner, editor = await register_and_login(client), await register_and_login(client)
    project = await create_project(owner)
    await add_member(owner, project["id"], editor, "editor")
    chat = await new_chat(owner, project["id"])
    ws = await WsClient.connect(client, owner)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    sent = await send(ws, chat["id"], "help")
    run_id = sent["data"]["run_id"]
    await ws.recv_until(lambda f: f.get("name") == "message.delta" and f["data"]["run_id"] == run_id)

    refused = await editor.patch(f"/chat/messages/{sent['data']['user_message']['id']}",
                                 {"content": "hijacked", "regenerate": True})
    assert refused.status == 403, refused.body
    events = await run_events(ws, run_id)
    assert events[-1]["name"] == "message.completed"
    assert events[-1]["data"]["message"]["status"] == "complete"
    messages = (await owner.get(f"/chat/sessions/{chat['id']}/messages")).body["items"]
    assert [(m["content"], m["status"]) for m in messages][0] == ("help", "complete")
    assert messages[0]["edited_at"] is None and len(messages) == 2
    await ws.close()


async def test_a_regenerate_racing_a_send_queues_instead_of_orphaning_a_run(aiohttp_client, tmp_path):
    client = await slow_client(aiohttp_client, tmp_path, tokens_per_s=100)
    user, chat, ws, sent = await streaming_reply(client)
    edit = asyncio.ensure_future(user.patch(f"/chat/messages/{sent['user_message']['id']}",
                                            {"content": "help again", "regenerate": True}))
    # While the edit waits for the first reply to stop, another message arrives (enqueued behind it).
    queued = await send(ws, chat["id"], "help", if_busy="enqueue")
    assert queued["ok"], queued
    assert (await edit).status == 200
    runs = client.app[keys.RUNS]
    ended = set()
    while len(ended) < 2 or runs.active_count():  # every run that was started ends; none is left streaming
        frame = await ws.recv_until(lambda f: f.get("name") in ("message.completed", "run.cancelled",
                                                               "run.failed"), timeout=30)
        ended.add(frame["data"]["run_id"])
    messages = (await user.get(f"/chat/sessions/{chat['id']}/messages")).body["items"]
    assert all(m["status"] != "streaming" for m in messages), messages
    await ws.close()
