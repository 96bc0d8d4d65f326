"""Agent worker processes: the loop stays free while many runs stream; a dead worker fails its run only.
Thread mode (for debugging) runs the same host with the same results."""

from __future__ import annotations

import asyncio

from chatsvc import keys
from tests.chatutil import new_chat, run_events, send, streamed_text, streaming_reply
from tests.conftest import build_app, make_settings
from tests.helpers import register_and_login
from tests.wsutil import WsClient


async def test_sixteen_streams_in_worker_processes_leave_rest_responsive(aiohttp_client, tmp_path):
    settings = make_settings(tmp_path, offline_tokens_per_s=50, agent_processes=2, max_runs_per_user=64)  # a load test
    client = await aiohttp_client(await build_app(settings))
    user = await register_and_login(client)
    chats = [await new_chat(user, title=f"c{i}") for i in range(16)]
    ws = await WsClient.connect(client, user)
    for chat in chats:
        assert (await ws.op("subscribe", topic=f"chat:{chat['id']}"))["ok"]
    runs = {}
    for chat in chats:
        sent = await send(ws, chat["id"], "help")
        runs[sent["data"]["run_id"]] = chat["id"]

    statuses = []

    async def poll_rest() -> None:
        while True:
            statuses.append((await user.get("/users/me")).status)
            await asyncio.sleep(0.05)

    poller = asyncio.create_task(poll_rest())
    finished: dict[str, str] = {}
    texts: dict[str, str] = {}
    collected: dict[str, list] = {run_id: [] for run_id in runs}
    while len(finished) < len(runs):
        frame = await ws.recv_until(lambda f: f["type"] == "event", timeout=30)
        run_id = frame["data"].get("run_id")
        if run_id in collected:
            collected[run_id].append(frame)
            if frame["name"] in ("message.completed", "run.failed", "run.cancelled"):
                finished[run_id] = frame["name"]
                texts[run_id] = streamed_text(collected[run_id])
    poller.cancel()
    assert {w.__class__.__name__ for w in client.app[keys.AGENTS].workers} == {"ProcessWorker"}
    assert set(finished.values()) == {"message.completed"}
    assert len(set(texts.values())) == 1 and "offline model" in next(iter(texts.values()))
    assert statuses and set(statuses) == {200}  # REST kept answering throughout (and the loop guard stayed green)
    await ws.close()


async def test_a_killed_worker_fails_its_run_and_the_next_run_works(aiohttp_client, tmp_path):
    client = await aiohttp_client(await build_app(make_settings(tmp_path, offline_tokens_per_s=30)))
    user, chat, ws, sent = await streaming_reply(client)
    run_id = sent["run_id"]
    pool = client.app[keys.AGENTS]
    pool.run_worker[run_id].process.kill()
    events = await run_events(ws, run_id)
    assert events[-1]["name"] == "run.failed"
    assert "stopped unexpectedly" in events[-1]["data"]["error"]
    failed = events[-1]["data"]["message"]
    assert failed["status"] == "failed" and failed["content"]  # the partial text is kept
    again = await send(ws, chat["id"], "help")
    events = await run_events(ws, again["data"]["run_id"])
    assert events[-1]["name"] == "message.completed"
    assert sum(1 for w in pool.workers if w.alive) == 1  # replaced
    await ws.close()


async def test_thread_mode_gives_the_same_reply(aiohttp_client, tmp_path):
    client = await aiohttp_client(await build_app(make_settings(tmp_path, agent_executor="thread")))
    user = await register_and_login(client)
    chat = await new_chat(user)
    ws = await WsClient.connect(client, user)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    sent = await send(ws, chat["id"], "list the requirements")
    events = await run_events(ws, sent["data"]["run_id"])
    assert [w.__class__.__name__ for w in client.app[keys.AGENTS].workers] == ["ThreadWorker"]
    assert "tool.call" in [e["name"] for e in events]
    assert events[-1]["name"] == "message.completed"
    await ws.close()
