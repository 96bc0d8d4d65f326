"""The multiplexed websocket (DESIGN §7) through aiohttp's ws_connect against the real app."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import WSServerHandshakeError

from chatsvc import keys
from chatsvc.live import Limits
from tests.conftest import build_app, make_settings
from tests.helpers import PASSWORD, add_member, create_project, register, register_and_login
from tests.wsutil import WsClient


def our_tasks() -> set[asyncio.Task]:
    """Tasks of the server's connections (writers, kicks, rechecks) still alive."""
    names = ("Connection.writer", "Connection._close", "SocketRegistry._recheck_all")
    return {t for t in asyncio.all_tasks() if not t.done() and any(n in repr(t.get_coro()) for n in names)}


async def assert_no_leaked_tasks() -> None:
    for _ in range(50):
        if not our_tasks():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"tasks left running: {our_tasks()}")


async def test_welcome_ping_and_clean_disconnect(client):
    user = await register_and_login(client)
    ws = await WsClient.connect(client, user)
    assert ws.welcome["user_id"] == user.id and ws.welcome["heartbeat_s"] == 30
    assert ws.welcome["limits"]["max_topics"] == 100 and ws.welcome["conn_id"]
    assert await ws.op("ping") == {"type": "pong", "id": 1}
    assert client.app[keys.SOCKETS].count() == 1
    await ws.close()
    await assert_no_leaked_tasks()
    assert client.app[keys.SOCKETS].count() == 0


async def test_deflate_is_declined_and_frames_of_every_size_arrive_whole(client):
    """Browsers offer permessage-deflate; the server declines it (CPU and ~400 KiB of zlib state per socket),
    and its frames, most written raw to idle sockets, decode at every length encoding (7, 16 and 64 bits)."""
    user = await register_and_login(client)
    project = await create_project(user)
    ws = await WsClient.connect(client, user, compress=15)
    assert ws.ws.compress == 0
    assert (await ws.op("subscribe", topic=f"project:{project['id']}"))["ok"]
    sizes = [1, 100, 5000, 16_000]  # up to the largest resource an event embeds
    for size in sizes:
        r = await user.post(f"/projects/{project['id']}/artifacts", {"type": "note", "name": f"n{size}",
                                                                      "content": {"text": "x" * size}})
        assert r.status == 201
    events = await ws.events(len(sizes))
    assert [e["data"]["resource"]["name"] for e in events] == [f"n{size}" for size in sizes]
    assert [len(e["data"]["resource"]["content"]["text"]) for e in events] == sizes
    await ws.close()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000])
def test_raw_text_frames_are_what_aiohttp_writes(size):
    """The frames Connection writes itself are byte for byte aiohttp's own (at each length encoding)."""
    from aiohttp import WSMsgType
    from aiohttp._websocket.writer import WebSocketWriter

    from chatsvc.live import text_frame

    class Sink:
        written = b""

        def write(self, data: bytes) -> None:
            self.written += bytes(data)

        def is_closing(self) -> bool:
            return False

    sink = Sink()
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    WebSocketWriter(None, sink, use_mask=False)._write_websocket_frame(payload, WSMsgType.TEXT, 0)  # type: ignore[arg-type]
    assert text_frame(payload) == sink.written


async def test_upgrade_needs_authentication(client):
    with pytest.raises(WSServerHandshakeError) as info:
        await client.ws_connect("/api/v1/ws")
    assert info.value.status == 401
    with pytest.raises(WSServerHandshakeError) as info:
        await client.ws_connect("/api/v1/ws", headers={"Authorization": "Bearer not-a-token"})
    assert info.value.status == 401


async def test_plain_get_without_upgrade_is_400(client):
    user = await register_and_login(client)
    r = await user.get("/ws")
    assert r.status == 400 and r.body["error"]["code"] == "bad_request"


async def cookie_login(client, username: str) -> None:
    r = await client.post("/api/v1/users/session", json={"username": username, "password": PASSWORD})
    assert r.status == 200


async def test_cookie_auth_needs_an_allowed_origin(client):
    await register(client, "cookiemonster")
    await cookie_login(client, "cookiemonster")
    own = str(client.make_url("")).rstrip("/")
    for origin in (None, "https://evil.example", own + ".evil.com", "null"):
        headers = {"Origin": origin} if origin else {}
        with pytest.raises(WSServerHandshakeError) as info:
            await client.ws_connect("/api/v1/ws", headers=headers)
        assert info.value.status == 403, origin
    ws = await WsClient.connect(client, headers={"Origin": own})
    await ws.close()


async def test_bad_frames_get_error_results_and_keep_the_connection(client):
    user = await register_and_login(client)
    ws = await WsClient.connect(client, user)
    await ws.ws.send_str(json.dumps({"op": "ping"}))
    assert (await ws.recv())["error"]["code"] == "invalid_format"
    await ws.ws.send_str(json.dumps([1, 2]))
    assert (await ws.recv())["error"]["code"] == "invalid_format"
    assert (await ws.op("dance"))["error"]["code"] == "unknown_op"
    await ws.ws.send_str(json.dumps({"id": 1, "op": "ping"}))  # ids must strictly increase
    assert (await ws.recv())["error"] == {"code": "id_reuse", "message": "Op ids must strictly increase on a "
                                                                          "connection.", "retryable": False}
    assert (await ws.op("subscribe", topic="nonsense"))["error"]["code"] == "invalid_format"
    assert (await ws.op("subscribe", topic="user:x", extra=1))["error"]["code"] == "invalid_format"
    assert (await ws.op("subscribe", topic=f"user:{user.id}", since={"epoch": 5}))["error"]["code"] == \
        "invalid_format"
    await ws.ws.send_str("[" * 5000 + "]" * 5000)  # valid JSON, deeper than Python decodes
    assert (await ws.recv())["error"]["code"] == "invalid_format"
    assert (await ws.op("ping"))["type"] == "pong"  # still alive
    await ws.close()


async def test_unparseable_or_binary_frames_close_4400(client):
    user = await register_and_login(client)
    ws = await WsClient.connect(client, user)
    await ws.ws.send_str("{not json")
    goodbye = await ws.closed_with(4400)
    assert goodbye and goodbye["code"] == 4400 and goodbye["reconnect"] is False
    ws = await WsClient.connect(client, user)
    await ws.ws.send_bytes(b"\x00\x01")
    await ws.closed_with(4400)
    await assert_no_leaked_tasks()


async def test_oversized_frame_closes_1009(aiohttp_client, tmp_path):
    app = await build_app(make_settings(tmp_path), ws_limits=Limits(max_frame_bytes=1024))
    client = await aiohttp_client(app)
    user = await register_and_login(client)
    ws = await WsClient.connect(client, user)
    await ws.ws.send_str(json.dumps({"id": 1, "op": "ping", "pad": "x" * 2000}))
    await ws.closed_with(1009)


async def test_own_user_topic_only(client):
    alice = await register_and_login(client)
    bob = await register_and_login(client)
    ws = await WsClient.connect(client, alice)
    ok = await ws.op("subscribe", topic=f"user:{alice.id}")
    assert ok["ok"] is True and set(ok["data"]) == {"epoch", "seq"}
    assert (await ws.op("subscribe", topic=f"user:{alice.id}"))["error"]["code"] == "already_subscribed"
    assert (await ws.op("subscribe", topic=f"user:{bob.id}"))["error"]["code"] == "forbidden"
    assert (await ws.op("subscribe", topic="task:nope"))["error"]["code"] == "not_found"
    gone = await ws.op("unsubscribe", topic=f"user:{alice.id}")
    assert gone["ok"] and gone["data"]["was_subscribed"] is True
    again = await ws.op("unsubscribe", topic=f"user:{alice.id}")
    assert again["ok"] and again["data"]["was_subscribed"] is False
    await ws.close()


async def test_two_clients_see_a_rest_update_exactly_once_in_order(client):
    owner = await register_and_login(client)
    editor = await register_and_login(client)
    project = await create_project(owner)
    await add_member(owner, project["id"], editor, "editor")
    a = await WsClient.connect(client, owner)
    b = await WsClient.connect(client, editor)
    topic = f"project:{project['id']}"
    for ws in (a, b):
        assert (await ws.op("subscribe", topic=topic))["ok"]
    for name in ("One", "Two", "Three"):
        r = await owner.patch(f"/projects/{project['id']}", {"name": name})
        assert r.status == 200
    for ws in (a, b):
        events = await ws.events(3)
        assert [e["name"] for e in events] == ["project.updated"] * 3
        assert [e["data"]["resource"]["name"] for e in events] == ["One", "Two", "Three"]
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3 and seqs[1] == seqs[0] + 1
        assert events[0]["data"]["actor"] == owner.id
        await ws.nothing_more()
        await ws.close()


async def test_resume_replays_exactly_the_missed_events(client):
    owner = await register_and_login(client)
    project = await create_project(owner)
    topic = f"project:{project['id']}"
    ws = await WsClient.connect(client, owner)
    first = await ws.op("subscribe", topic=topic)
    await owner.patch(f"/projects/{project['id']}", {"name": "seen"})
    seen = (await ws.events(1))[0]
    await ws.close()
    for name in ("missed 1", "missed 2"):
        await owner.patch(f"/projects/{project['id']}", {"name": name})
    ws = await WsClient.connect(client, owner)
    resumed = await ws.op("subscribe", topic=topic, since={"epoch": first["data"]["epoch"], "seq": seen["seq"]})
    assert resumed["data"]["recovered"] is True and resumed["data"]["replayed"] == 2
    replay = await ws.events(2)
    assert [e["data"]["resource"]["name"] for e in replay] == ["missed 1", "missed 2"]
    assert [e["seq"] for e in replay] == [seen["seq"] + 1, seen["seq"] + 2]
    await owner.patch(f"/projects/{project['id']}", {"name": "live"})
    live = (await ws.events(1))[0]
    assert live["seq"] == seen["seq"] + 3
    stale = await ws.op("subscribe", topic=f"user:{owner.id}", since={"epoch": "old-epoch", "seq": 3})
    assert stale["data"]["recovered"] is False and stale["data"]["replayed"] == 0
    await ws.nothing_more()
    await ws.close()


async def test_since_older_than_the_ring_is_not_recovered(aiohttp_client, tmp_path):
    client = await aiohttp_client(await build_app(make_settings(tmp_path)))
    client.app[keys.EVENTS].ring_events = 2
    owner = await register_and_login(client)
    project = await create_project(owner)
    topic = f"project:{project['id']}"
    ws = await WsClient.connect(client, owner)
    sub = await ws.op("subscribe", topic=topic)
    await ws.close()
    for i in range(4):
        await owner.patch(f"/projects/{project['id']}", {"name": f"n{i}"})
    ws = await WsClient.connect(client, owner)
    res = await ws.op("subscribe", topic=topic, since={"epoch": sub["data"]["epoch"], "seq": sub["data"]["seq"]})
    assert res["data"]["recovered"] is False and res["data"]["replayed"] == 0
    await ws.nothing_more()  # no partial replay
    await ws.close()


async def test_non_member_learns_nothing(client):
    owner = await register_and_login(client)
    stranger = await register_and_login(client)
    project = await create_project(owner)
    ws = await WsClient.connect(client, stranger)
    res = await ws.op("subscribe", topic=f"project:{project['id']}")
    missing = await ws.op("subscribe", topic="project:does-not-exist")
    assert res["error"] == {**missing["error"], "message": res["error"]["message"]}
    assert res["error"]["code"] == "not_found"
    await owner.patch(f"/projects/{project['id']}", {"name": "secret"})
    await ws.nothing_more()
    await ws.close()


async def test_removing_a_member_ends_their_subscription(client):
    owner = await register_and_login(client)
    viewer = await register_and_login(client)
    project = await create_project(owner)
    await add_member(owner, project["id"], viewer, "viewer")
    ws = await WsClient.connect(client, viewer)
    topic = f"project:{project['id']}"
    assert (await ws.op("subscribe", topic=topic))["ok"]
    r = await owner.delete(f"/projects/{project['id']}/members/{viewer.id}")
    assert r.status == 204
    removal = await ws.recv()  # the news of their own removal still reaches them...
    assert removal["name"] == "member.deleted"
    ended = await ws.recv()  # ...then the subscription ends
    assert ended == {"type": "unsubscribed", "topic": topic, "reason": "forbidden"}
    await owner.patch(f"/projects/{project['id']}", {"name": "after removal"})
    await ws.nothing_more()
    await ws.close()


async def test_deleting_the_project_ends_subscriptions(client):
    owner = await register_and_login(client)
    project = await create_project(owner)
    ws = await WsClient.connect(client, owner)
    topic = f"project:{project['id']}"
    await ws.op("subscribe", topic=topic)
    assert (await owner.delete(f"/projects/{project['id']}")).status == 204
    ended = await ws.recv_until(lambda f: f["type"] == "unsubscribed")
    assert ended["reason"] == "deleted" and ended["topic"] == topic
    await ws.close()


async def test_logout_closes_that_sessions_socket_with_4401(client):
    user = await register_and_login(client)
    ws = await WsClient.connect(client, user)
    assert (await user.post("/users/logout")).status == 204
    goodbye = await ws.closed_with(4401)
    assert goodbye and goodbye["reconnect"] is False
    await assert_no_leaked_tasks()


async def test_password_change_closes_other_sessions_sockets(client):
    from tests.helpers import login

    user = await register_and_login(client, "rotator")
    other = await login(client, "rotator")
    other_ws = await WsClient.connect(client, headers={"Authorization": f"Bearer {other.body['access_token']}"})
    own_ws = await WsClient.connect(client, user)
    r = await user.post("/users/me/password", {"current_password": PASSWORD, "new_password": "brand new pass"})
    assert r.status == 200
    await other_ws.closed_with(4401)
    assert (await own_ws.op("ping"))["type"] == "pong"
    await own_ws.close()


async def test_too_many_subscriptions(aiohttp_client, tmp_path):
    client = await aiohttp_client(await build_app(make_settings(tmp_path), ws_limits=Limits(max_topics=2)))
    owner = await register_and_login(client)
    projects = [await create_project(owner, f"p{i}") for i in range(3)]
    ws = await WsClient.connect(client, owner)
    for p in projects[:2]:
        assert (await ws.op("subscribe", topic=f"project:{p['id']}"))["ok"]
    over = await ws.op("subscribe", topic=f"project:{projects[2]['id']}")
    assert over["error"]["code"] == "too_many_subscriptions"
    await ws.close()


async def test_op_flood_is_rate_limited_then_closed_4429(aiohttp_client, tmp_path):
    limits = Limits(ops_per_s=5, ops_burst=5, abuse_rejections=30)
    client = await aiohttp_client(await build_app(make_settings(tmp_path), ws_limits=limits))
    user = await register_and_login(client)
    ws = await WsClient.connect(client, user)
    for _ in range(10):
        await ws.send_op("ping")
    frames = [await ws.recv() for _ in range(10)]
    assert sum(f["type"] == "pong" for f in frames) >= 5
    limited = [f for f in frames if f["type"] == "result"]
    assert limited and all(f["error"]["code"] == "rate_limited" and f["error"]["retryable"] for f in limited)
    for _ in range(40):
        await ws.send_op("ping")
    goodbye = await ws.closed_with(4429)
    assert goodbye and goodbye["reconnect"] is True
    await assert_no_leaked_tasks()


async def stalled_client(client, headers: dict[str, str], topic: str):
    """A websocket client that subscribes and then never reads: its small stream buffer fills, the reader
    pauses the socket, and TCP backpressure reaches the server, as with a frozen browser tab."""
    import base64
    import os

    reader, writer = await asyncio.open_connection(client.host, client.port, limit=16 * 1024)
    key = base64.b64encode(os.urandom(16)).decode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write((f"GET /api/v1/ws HTTP/1.1\r\nHost: {client.host}:{client.port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n")
                 .encode())
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    payload = json.dumps({"id": 1, "op": "subscribe", "topic": topic}).encode()
    mask = os.urandom(4)
    writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    await writer.drain()
    registry = client.app[keys.SOCKETS]
    for _ in range(100):  # wait until the server registered the subscription
        if any(topic in c.subscriptions and len(c.subscriptions) == 1 for c in registry.connections):
            return writer
        await asyncio.sleep(0.02)
    raise AssertionError("the stalled client did not subscribe")


async def read_server_frames(reader: asyncio.StreamReader, timeout: float = 10) -> list[tuple[int, bytes]]:
    """Read unmasked server frames (opcode, payload) from a raw websocket until its close frame or EOF."""
    frames: list[tuple[int, bytes]] = []
    async with asyncio.timeout(timeout):
        while True:
            try:
                head = await reader.readexactly(2)
            except asyncio.IncompleteReadError:
                return frames
            size = head[1] & 0x7F
            if size == 126:
                size = int.from_bytes(await reader.readexactly(2), "big")
            elif size == 127:
                size = int.from_bytes(await reader.readexactly(8), "big")
            frames.append((head[0] & 0x0F, await reader.readexactly(size)))
            if frames[-1][0] == 0x8:
                return frames


async def test_a_slow_reader_is_told_goodbye_4503_behind_a_bounded_backlog(aiohttp_client, tmp_path):
    """A client that falls behind is kicked by the queue limits, which count what sits in the transport, and
    the kernel's send buffer is bounded: once it reads again it finds `goodbye` 4503 and a 4503 close frame
    after a few hundred KiB at most, not a TCP reset after megabytes."""
    import socket

    limits, client, owner, topic = await slow_consumer_world(aiohttp_client, tmp_path)
    writer = await stalled_client(client, owner.headers, topic)
    reader: asyncio.StreamReader = writer._protocol._stream_reader  # type: ignore[attr-defined]
    registry = client.app[keys.SOCKETS]
    (conn,) = registry.connections
    sock = conn.request.transport.get_extra_info("socket")
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) <= 2 * limits.send_buffer_bytes  # Linux doubles
    big = "x" * 30_000
    for i in range(2000):
        client.app[keys.EVENTS].publish([topic], "note.updated", {"id": str(i), "version": 1, "pad": big})
        if i % 10 == 0:
            await asyncio.sleep(0)
        if conn.closing:
            break
    assert conn.closing, "the slow reader was never kicked"
    frames = await read_server_frames(reader)  # it reads again
    texts = [json.loads(payload) for opcode, payload in frames if opcode == 0x1]
    backlog = sum(len(payload) for opcode, payload in frames if opcode == 0x1)
    assert texts[-1] == {"type": "goodbye", "code": 4503, "reconnect": True,
                         "reason": texts[-1]["reason"]} and "slow consumer" in texts[-1]["reason"]
    assert frames[-1][0] == 0x8 and int.from_bytes(frames[-1][1][:2], "big") == 4503
    assert backlog < 2 * limits.hard_bytes, backlog
    writer.close()
    await assert_no_leaked_tasks()


SLOW_LIMITS = Limits(soft_frames=50, soft_bytes=256 * 1024, hard_frames=400, hard_bytes=1 << 20, soft_grace_s=1.0)


async def slow_consumer_world(aiohttp_client, tmp_path):
    """An app with small queue limits, an owner and their project's topic."""
    client = await aiohttp_client(await build_app(make_settings(tmp_path), ws_limits=SLOW_LIMITS))
    owner = await register_and_login(client)
    project = await create_project(owner)
    return SLOW_LIMITS, client, owner, f"project:{project['id']}"


async def test_slow_consumer_is_closed_4503_while_others_keep_receiving(aiohttp_client, tmp_path):
    """A client that stops reading is closed with 4503; a reading one meanwhile gets every event."""
    limits, client, owner, topic = await slow_consumer_world(aiohttp_client, tmp_path)
    stalled = await stalled_client(client, owner.headers, topic)
    awake = await WsClient.connect(client, owner)
    assert (await awake.op("subscribe", topic=topic))["ok"]
    bus = client.app[keys.EVENTS]
    registry = client.app[keys.SOCKETS]
    received = 0
    big = "x" * 60_000
    for i in range(1000):
        bus.publish([topic], "note.updated", {"id": str(i), "version": 1, "pad": big})
        received += len(await awake.events(1))
        if any(c.closing for c in registry.connections):
            break  # kicked: it gets at most 2 s to take its goodbye before the connection is dropped
    for _ in range(200):
        if registry.count() == 1:
            break
        await asyncio.sleep(0.05)
    assert registry.count() == 1, "the client that never reads was not closed"
    assert received == i + 1 and i < 999  # the reading client got every event
    await awake.close()
    stalled.close()
    await assert_no_leaked_tasks()


async def test_shutdown_says_goodbye_and_closes_1001(aiohttp_client, tmp_path):
    client = await aiohttp_client(await build_app(make_settings(tmp_path)))
    user = await register_and_login(client)
    ws = await WsClient.connect(client, user)
    closing = asyncio.create_task(ws.closed_with(1001))
    await asyncio.sleep(0)
    await client.app.shutdown()
    goodbye = await closing
    assert goodbye == {"type": "goodbye", "code": 1001, "reason": "server shutting down", "reconnect": True}
    await assert_no_leaked_tasks()


async def test_deleting_a_chat_ends_its_subscription(client):
    owner = await register_and_login(client)
    chat = (await owner.post("/chat/sessions", {"title": "short-lived"})).body
    ws = await WsClient.connect(client, owner)
    topic = f"chat:{chat['id']}"
    assert (await ws.op("subscribe", topic=topic))["ok"]
    assert (await owner.delete(f"/chat/sessions/{chat['id']}")).status == 204
    ended = await ws.recv_until(lambda f: f["type"] == "unsubscribed")
    assert ended == {"type": "unsubscribed", "topic": topic, "reason": "deleted"}
    await ws.close()


async def test_admin_reconnect_closes_a_users_sockets_with_1012_and_they_resume(client, settings):
    from tests.helpers import make_admin

    admin = await make_admin(client, settings)
    alice = await register_and_login(client)
    bob = await register_and_login(client)
    project = await create_project(alice)
    ws = await WsClient.connect(client, alice)
    bystander = await WsClient.connect(client, bob)
    sub = await ws.op("subscribe", topic=f"project:{project['id']}")
    assert (await alice.post("/chat/sessions", json={"project_id": project["id"]})).status == 201
    seen = await ws.recv_until(lambda f: f.get("type") == "event")
    r = await admin.post(f"/admin/users/{alice.id}/reconnect")
    assert r.status == 200 and r.body == {"closed": 1}
    goodbye = await ws.closed_with(1012)
    assert goodbye and goodbye["reconnect"] is True
    assert (await alice.patch(f"/projects/{project['id']}", json={"name": "Renamed"})).status == 200
    ws = await WsClient.connect(client, alice)
    resumed = await ws.op("subscribe", topic=f"project:{project['id']}",
                          since={"epoch": sub["data"]["epoch"], "seq": seen["seq"]})
    assert resumed["data"]["recovered"] is True and resumed["data"]["replayed"] == 1
    missed = await ws.recv_until(lambda f: f.get("type") == "event")
    assert missed["name"] == "project.updated" and missed["data"]["resource"]["name"] == "Renamed"
    assert (await bystander.op("ping"))["type"] == "pong"  # other users' sockets stay open
    assert (await admin.post("/admin/users/no-such-user/reconnect")).status == 404
    assert (await bob.post(f"/admin/users/{alice.id}/reconnect")).status == 403
    await ws.close()
    await bystander.close()


async def test_an_op_that_fails_inside_the_server_answers_internal_and_keeps_the_socket(client, monkeypatch):
    # Fault injection (a bug in one service must not close the socket every view of the tab rides on): the
    # chat service's send raises something no layer maps.
    user = await register_and_login(client)
    chat = (await user.post("/chat/sessions", {"title": "x"})).body
    ws = await WsClient.connect(client, user)
    assert (await ws.op("subscribe", topic=f"user:{user.id}"))["ok"]

    async def broken_send(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(client.app[keys.SERVICES].chat, "send", broken_send)
    failed = await ws.op("chat.send", session_id=chat["id"], content="hi", client_msg_id="m1")
    assert failed["ok"] is False and failed["error"]["code"] == "internal" and failed["error"]["retryable"] is True
    assert "a bug" not in failed["error"]["message"]
    pong = await ws.op("ping")
    assert pong["type"] == "pong"
    await ws.close()


async def test_one_user_can_hold_only_so_many_sockets(aiohttp_client, tmp_path):
    client = await aiohttp_client(await build_app(make_settings(tmp_path), ws_limits=Limits(max_sockets_per_user=2)))
    user = await register_and_login(client)
    other = await register_and_login(client)
    first, second = await WsClient.connect(client, user), await WsClient.connect(client, user)
    refused = await client.get("/api/v1/ws", headers={**user.headers, "Connection": "Upgrade", "Upgrade": "websocket",
                                                       "Sec-WebSocket-Version": "13",
                                                       "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert refused.status == 429 and (await refused.json())["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    elsewhere = await WsClient.connect(client, other)
    assert (await elsewhere.op("ping"))["type"] == "pong"  # a limit per user
    await first.close()
    for _ in range(100):  # the server notices the close, then the user may connect again
        if len(client.app[keys.SOCKETS].of_user(user.id)) < 2:
            break
        await asyncio.sleep(0.02)
    third = await WsClient.connect(client, user)
    assert (await third.op("ping"))["type"] == "pong"
    for ws in (second, third, elsewhere):
        await ws.close()
