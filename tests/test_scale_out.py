"""Scale-out for real (DESIGN §11): `run.py` processes sharing one PostgreSQL database and one Redis.

Any process may serve any request or socket: a REST call on one server reaches websockets on another,
chat replies stream across processes, and a resume on one server recovers what another published.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from http.client import HTTPException
from pathlib import Path
from typing import Any

import pytest

from tests.chatutil import ENDINGS, of_run, streamed_text
from tests.conftest import POSTGRES_URL, _service_unavailable, redis_url_with
from tests.procutil import ROOT, Server, fake_model_in_a_thread, http, running_server, server_env

websockets_sync = pytest.importorskip("websockets.sync.client")
websockets_exceptions = pytest.importorskip("websockets.exceptions")
redis_asyncio = pytest.importorskip("redis.asyncio")
asyncpg = pytest.importorskip("asyncpg")

PASSWORD = "a long password"


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database (a server subprocess cannot be handed a schema's connect args)."""
    from sqlalchemy.engine import make_url

    admin_dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    name = f"chatsvc_scale_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncio.wait_for(asyncpg.connect(admin_dsn), 5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        _service_unavailable(f"PostgreSQL at {POSTGRES_URL}", exc)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture
def redis_url(redis_prefix: str) -> str:
    """CHATSVC_REDIS_URL with a key prefix of this test's own (conftest deletes its keys afterwards)."""
    return redis_url_with(redis_prefix)


def cluster_env(database_url: str, redis_url: str) -> dict[str, str]:
    return server_env(CHATSVC_DATABASE_URL=database_url, CHATSVC_REDIS_URL=redis_url,
                      CHATSVC_AGENT_PROCESSES="1", CHATSVC_OFFLINE_TOKENS_PER_S="200")


@pytest.fixture
def servers(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[tuple[Server, Server]]:
    """Two servers on their own ports; they share the data dir (secret key, uploads) as workers would."""
    env = cluster_env(database_url, redis_url)
    with running_server(tmp_path / "data", env=env) as a:  # alone first: it migrates the new database
        with running_server(tmp_path / "data", env=env) as b:
            yield a, b
    for server in (a, b):
        assert "Traceback" not in server.output, server.output


def sign_up(server: Server, username: str) -> str:
    """Register and log in over REST; return the bearer token (valid on every process)."""
    status, body = http("POST", f"{server.base}/api/v1/users/register",
                        {"email": f"{username}@example.com", "username": username, "password": PASSWORD})
    assert status == 201, body
    status, body = http("POST", f"{server.base}/api/v1/users/login", {"username": username, "password": PASSWORD})
    assert status == 200, body
    return body["access_token"]


@contextlib.contextmanager
def connected(server: Server, token: str) -> Iterator[Socket]:
    """Open the websocket of `server` with a bearer token; closed at the end."""
    with websockets_sync.connect(f"ws{server.base[4:]}/api/v1/ws", open_timeout=10,
                                 additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        socket = Socket(ws)
        assert socket.recv()["type"] == "welcome"
        yield socket


class Socket:
    """A blocking websocket client (these tests run no event loop of their own)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.backlog: deque[dict[str, Any]] = deque()

    def recv(self, timeout: float = 20) -> dict[str, Any]:
        return self.backlog.popleft() if self.backlog else json.loads(self.ws.recv(timeout))

    def until(self, match: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
        """Return the first frame that matches; the ones before it are read again later."""
        skipped = []
        try:
            while not match(frame := self.recv(timeout)):
                skipped.append(frame)
            return frame
        finally:
            self.backlog.extendleft(reversed(skipped))

    def op(self, op: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        op_id = self.next_id
        self.ws.send(json.dumps({"id": op_id, "op": op, **params}))
        result = self.until(lambda f: f["type"] == "result" and f["id"] == op_id)
        assert result["ok"], result
        return result["data"]


def test_a_rest_change_on_one_process_reaches_a_websocket_on_another(servers):
    a, b = servers
    token = sign_up(a, "ada")
    _, project = http("POST", f"{a.base}/api/v1/projects", {"name": "Shared"}, token=token)
    with connected(b, token) as ws:
        sub = ws.op("subscribe", topic=f"project:{project['id']}")
        status, _ = http("PATCH", f"{a.base}/api/v1/projects/{project['id']}", {"name": "Renamed on A"},
                         token=token)
        assert status == 200
        # (project.created may come too: publishing is asynchronous, so it can reach Redis after the subscribe.)
        event = ws.until(lambda f: f.get("name") == "project.updated")
    assert event["seq"] > sub["seq"] and event["epoch"] == sub["epoch"]
    assert event["data"]["resource"]["name"] == "Renamed on A"


def test_a_reply_to_a_message_sent_on_one_process_streams_to_a_websocket_on_another(servers):
    a, b = servers
    token = sign_up(a, "bea")
    _, project = http("POST", f"{a.base}/api/v1/projects", {"name": "Chatty"}, token=token)
    status, chat = http("POST", f"{a.base}/api/v1/chat/sessions", {"title": "x", "project_id": project["id"]},
                        token=token)
    assert status == 201, chat
    with connected(b, token) as ws:
        ws.op("subscribe", topic=f"chat:{chat['id']}")
        status, sent = http("POST", f"{a.base}/api/v1/chat/sessions/{chat['id']}/messages",
                            {"content": "Hello from A", "client_msg_id": "m1"}, token=token)
        assert status == 202, sent
        events: list[dict[str, Any]] = []
        while not events or events[-1]["name"] not in ENDINGS:
            events.append(ws.until(lambda f: of_run(f, sent["run_id"])))
    names = [e["name"] for e in events]
    assert names[-1] == "message.completed", names
    assert "run.started" in names and "message.delta" in names
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    reply = events[-1]["data"]["message"]
    assert reply["status"] == "complete" and streamed_text(events) == reply["content"] != ""


def test_a_resume_on_one_process_recovers_what_another_published(servers):
    a, b = servers
    token = sign_up(b, "cyd")
    _, project = http("POST", f"{b.base}/api/v1/projects", {"name": "Resumed"}, token=token)
    topic = f"project:{project['id']}"
    with connected(b, token) as ws:
        ws.op("subscribe", topic=topic)
        assert http("PATCH", f"{a.base}/api/v1/projects/{project['id']}", {"name": "seen"}, token=token)[0] == 200
        seen = ws.until(lambda f: f.get("name") == "project.updated")
    # The tab slept; meanwhile A changed things.
    for name in ("missed 1", "missed 2"):
        assert http("PATCH", f"{a.base}/api/v1/projects/{project['id']}", {"name": name}, token=token)[0] == 200

    with connected(b, token) as ws:
        resumed = ws.op("subscribe", topic=topic, since={"epoch": seen["epoch"], "seq": seen["seq"]})
        replay = [ws.recv(), ws.recv()]
        assert http("PATCH", f"{a.base}/api/v1/projects/{project['id']}", {"name": "live"}, token=token)[0] == 200
        live = ws.recv()
    assert (resumed["recovered"], resumed["replayed"], resumed["seq"]) == (True, 2, seen["seq"] + 2)
    assert [(e["seq"], e["data"]["resource"]["name"]) for e in replay] == [(seen["seq"] + 1, "missed 1"),
                                                                            (seen["seq"] + 2, "missed 2")]
    assert (live["seq"], live["data"]["resource"]["name"]) == (seen["seq"] + 3, "live")


def test_workers_share_one_port_and_every_socket_sees_every_event(tmp_path, database_url, redis_url):
    env = cluster_env(database_url, redis_url)
    with running_server(tmp_path / "data", "--workers", "2", env=env) as server:
        token = sign_up(server, "dee")
        _, project = http("POST", f"{server.base}/api/v1/projects", {"name": "Busy"}, token=token)
        with contextlib.ExitStack() as stack:
            # The kernel spreads connections (and requests) over both workers.
            sockets = [stack.enter_context(connected(server, token)) for _ in range(6)]
            for ws in sockets:
                ws.op("subscribe", topic=f"project:{project['id']}")
            for n in range(3):
                assert http("PATCH", f"{server.base}/api/v1/projects/{project['id']}", {"name": f"v{n}"},
                            token=token)[0] == 200
            for ws in sockets:
                updates = [ws.until(lambda f: f.get("name") == "project.updated") for _ in range(3)]
                assert [u["data"]["resource"]["name"] for u in updates] == ["v0", "v1", "v2"]
    assert server.proc.returncode == 0, server.output


def test_workers_without_redis_refuse_to_start(tmp_path):
    done = subprocess.run([sys.executable, "run.py", "--workers", "2", "--data-dir", str(tmp_path / "data")],
                          cwd=ROOT, env=server_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "CHATSVC_REDIS_URL" in done.stderr and "other" in done.stderr


def test_stop_reaches_a_reply_streaming_on_another_process(tmp_path, database_url, redis_url):
    """The stop button's REST call may land on any process: it is relayed to the one running the reply."""
    env = {**cluster_env(database_url, redis_url), "CHATSVC_OFFLINE_TOKENS_PER_S": "20"}
    with running_server(tmp_path / "data", env=env) as a, running_server(tmp_path / "data", env=env) as b:
        token = sign_up(a, "cyd")
        _, project = http("POST", f"{a.base}/api/v1/projects", {"name": "Stoppable"}, token=token)
        _, chat = http("POST", f"{a.base}/api/v1/chat/sessions", {"project_id": project["id"]}, token=token)
        with connected(b, token) as ws:
            ws.op("subscribe", topic=f"chat:{chat['id']}")
            status, sent = http("POST", f"{a.base}/api/v1/chat/sessions/{chat['id']}/messages",
                                {"content": "help"}, token=token)
            assert status == 202, sent
            ws.until(lambda f: of_run(f, sent["run_id"]) and f["name"] == "message.delta")
            status, out = http("POST", f"{b.base}/api/v1/chat/sessions/{chat['id']}/cancel", token=token)
            assert status == 202 and out == {"cancelled": True, "run_id": sent["run_id"]}
            end = ws.until(lambda f: of_run(f, sent["run_id"]) and f["name"] in ENDINGS)
    assert end["name"] == "run.cancelled"
    reply = end["data"]["message"]
    assert reply["status"] == "cancelled" and reply["content"]


def until_status(method: str, url: str, want: int, token: str, timeout: float = 3.0) -> float:
    """Repeat a request until it answers `want`; return how long that took (the access cache's TTL is 30 s)."""
    start = time.monotonic()
    while True:
        status, _ = http(method, url, token=token)
        if status == want:
            return time.monotonic() - start
        assert time.monotonic() - start < timeout, f"{method} {url} still answers {status}, not {want}"
        time.sleep(0.02)


def test_revoked_rights_reach_the_access_cache_of_every_process(servers):
    """Logout on A ends the token on B, and a removed member loses the project on B, within the bus's delay
    (not the cache's 30 s lifetime): every process caches principals and roles and forgets them by event."""
    a, b = servers
    owner, member = sign_up(a, "olga"), sign_up(a, "mats")
    _, project = http("POST", f"{a.base}/api/v1/projects", {"name": "Shared"}, token=owner)
    _, me = http("GET", f"{a.base}/api/v1/users/me", token=member)
    status, _ = http("POST", f"{a.base}/api/v1/projects/{project['id']}/members",
                     {"user_id": me["id"], "role": "editor"}, token=owner)
    assert status == 201
    project_on_b = f"{b.base}/api/v1/projects/{project['id']}"
    for _ in range(3):  # B now holds the member's principal and role
        assert http("GET", project_on_b, token=member)[0] == 200
    status, _ = http("DELETE", f"{a.base}/api/v1/projects/{project['id']}/members/{me['id']}", token=owner)
    assert status == 204
    assert until_status("GET", project_on_b, 404, member) < 3.0

    assert http("GET", project_on_b, token=owner)[1]["name"] == "Shared"  # B caches the project too
    assert http("PATCH", f"{a.base}/api/v1/projects/{project['id']}", {"name": "Renamed"}, token=owner)[0] == 200
    deadline = time.monotonic() + 3.0
    while http("GET", project_on_b, token=owner)[1]["name"] != "Renamed":
        assert time.monotonic() < deadline, "B still serves the old project"
        time.sleep(0.02)

    assert http("GET", f"{b.base}/api/v1/users/me", token=owner)[0] == 200
    assert http("POST", f"{a.base}/api/v1/users/logout", token=owner)[0] == 204
    assert until_status("GET", f"{b.base}/api/v1/users/me", 401, owner) < 3.0


def test_failed_logins_count_across_processes(servers):
    """12 wrong logins spread over two processes reach the per-account limit (10), as on one process."""
    a, b = servers
    sign_up(a, "rita")
    statuses = [http("POST", f"{server.base}/api/v1/users/login", {"username": "rita", "password": "wrong one!"})[0]
                for server in (a, b) * 6]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429], statuses
    assert http("POST", f"{b.base}/api/v1/users/login", {"username": "rita", "password": PASSWORD})[0] == 429


def test_registrations_per_ip_count_across_processes(tmp_path, database_url, redis_url):
    """The per-IP registration limit holds for the deployment, not per process."""
    with two_servers(tmp_path, database_url, redis_url, CHATSVC_REGISTRATIONS_PER_IP="3") as (a, b):
        statuses = [http("POST", f"{server.base}/api/v1/users/register",
                         {"email": f"reg{i}@example.com", "username": f"reg{i}", "password": PASSWORD})[0]
                    for i, server in enumerate((a, b, a, b))]
    assert statuses == [201, 201, 201, 429], statuses


def test_hosts_with_their_own_data_dirs_share_cookie_sessions_through_one_secret_key(
        tmp_path, database_url, redis_url):
    """Several hosts behind a load balancer: with one CHATSVC_SECRET_KEY a browser session made on one host is
    good on another (without it each host would generate its own key into its data dir)."""
    import urllib.request

    env = {**cluster_env(database_url, redis_url), "CHATSVC_SECRET_KEY": "5e" * 32}
    with running_server(tmp_path / "a", env=env) as a, running_server(tmp_path / "b", env=env) as b:
        sign_up(a, "jan")
        request = urllib.request.Request(f"{a.base}/api/v1/users/session", method="POST",
                                         data=json.dumps({"username": "jan", "password": PASSWORD}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            cookie = resp.headers["Set-Cookie"].split(";")[0]
        me = urllib.request.Request(f"{b.base}/api/v1/users/me", headers={"Cookie": cookie})
        with urllib.request.urlopen(me, timeout=10) as resp:
            assert resp.status == 200 and json.loads(resp.read())["username"] == "jan"
    assert not list(tmp_path.glob("*/secret*"))  # the key came from the environment, none was generated


@contextlib.contextmanager
def two_servers(tmp_path: Path, database_url: str, redis_url: str, **env: str) -> Iterator[tuple[Server, Server]]:
    """Two processes on one database and one Redis, with these extra settings."""
    full_env = {**cluster_env(database_url, redis_url), **env}
    with running_server(tmp_path / "data", env=full_env) as a, running_server(tmp_path / "data", env=full_env) as b:
        yield a, b


def chat_in_project(server: Server, token: str, name: str) -> str:
    _, project = http("POST", f"{server.base}/api/v1/projects", {"name": name}, token=token)
    status, chat = http("POST", f"{server.base}/api/v1/chat/sessions", {"project_id": project["id"]}, token=token)
    assert status == 201, chat
    return str(chat["id"])


def send(server: Server, token: str, chat_id: str, **body: Any) -> tuple[int, Any]:
    return http("POST", f"{server.base}/api/v1/chat/sessions/{chat_id}/messages", {"content": "help", **body},
                token=token)


def replies(server: Server, token: str, chat_id: str) -> list[dict[str, Any]]:
    status, page = http("GET", f"{server.base}/api/v1/chat/sessions/{chat_id}/messages?limit=100", token=token)
    assert status == 200, page
    return [m for m in page["items"] if m["role"] == "assistant"]


def test_one_reply_at_a_time_per_chat_whichever_process_a_message_reaches(tmp_path, database_url, redis_url):
    """The busy check is the cluster's: a second message on another process is refused (409 run_active) or
    queued behind the first (its reply starts when the first ends), never streamed beside it."""
    with two_servers(tmp_path, database_url, redis_url, CHATSVC_OFFLINE_TOKENS_PER_S="40") as (a, b):
        token = sign_up(a, "dee")
        chat_id = chat_in_project(a, token, "Busy")
        with connected(b, token) as ws:
            ws.op("subscribe", topic=f"chat:{chat_id}")
            status, first = send(a, token, chat_id, client_msg_id="m-1")
            assert status == 202, first
            ws.until(lambda f: of_run(f, first["run_id"]) and f["name"] == "message.delta")
            status, refused = send(b, token, chat_id)
            assert status == 409 and refused["error"]["code"] == "run_active", refused
            status, retried = send(b, token, chat_id, client_msg_id="m-1")  # a retry lands on the other process
            assert status == 202 and retried["run_id"] == first["run_id"], retried
            status, second = send(b, token, chat_id, if_busy="enqueue")
            assert status == 202, second
            first_end = ws.until(lambda f: of_run(f, first["run_id"]) and f["name"] in ENDINGS)
            second_start = ws.until(lambda f: of_run(f, second["run_id"]) and f["name"] == "run.started")
            second_end = ws.until(lambda f: of_run(f, second["run_id"]) and f["name"] in ENDINGS)
        assert [r["status"] for r in replies(a, token, chat_id)] == ["complete", "complete"]
    assert first_end["name"] == second_end["name"] == "message.completed"
    assert first_end["seq"] < second_start["seq"]  # the queued reply waited for the first to end


def test_a_killed_process_replies_end_within_a_lease_and_its_restart_touches_no_one_else(
        tmp_path, database_url, redis_url):
    """kill -9 one process while both stream: the survivor's reply completes, the victim's becomes
    `interrupted` within about a lease without any restart; a process starting later (a rolling restart)
    leaves the replies other processes are streaming alone."""
    lease_s = 3
    env = {**cluster_env(database_url, redis_url), "CHATSVC_OFFLINE_TOKENS_PER_S": "8",
           "CHATSVC_RUN_LEASE_S": str(lease_s)}
    with running_server(tmp_path / "data", env=env) as survivor:
        token = sign_up(survivor, "eve")
        on_victim, on_survivor, later = (chat_in_project(survivor, token, n) for n in ("v", "s", "l"))
        with running_server(tmp_path / "data", env=env) as victim, connected(survivor, token) as ws:
            for chat_id in (on_victim, on_survivor):
                ws.op("subscribe", topic=f"chat:{chat_id}")
            _, doomed = send(victim, token, on_victim)
            _, kept = send(survivor, token, on_survivor)
            ws.until(lambda f: of_run(f, doomed["run_id"]) and f["name"] == "message.delta")
            time.sleep(1.5)  # its text so far is checkpointed at least every second
            victim.proc.kill()
            killed_at = time.monotonic()
            ended = ws.until(lambda f: of_run(f, doomed["run_id"]) and f["name"] in ENDINGS, timeout=4 * lease_s)
            took = time.monotonic() - killed_at
            assert ended["name"] == "run.failed" and ended["data"]["error"] == "interrupted", ended
            assert ended["data"]["message"]["status"] == "interrupted" and ended["data"]["message"]["content"]
            assert took < lease_s * 2, took  # expiry (one lease at most) + one sweep (a third of a lease)
            # The chat is free again: a new message there is answered.
            status, again = send(survivor, token, on_victim)
            assert status == 202, again
            ws.op("subscribe", topic=f"chat:{later}")
            _, streaming = send(survivor, token, later)
            ws.until(lambda f: of_run(f, streaming["run_id"]) and f["name"] == "message.delta")
            with running_server(tmp_path / "data", env=env):  # the restart, while the survivor streams
                pass
            for run_id in (kept["run_id"], again["run_id"], streaming["run_id"]):
                end = ws.until(lambda f, r=run_id: of_run(f, r) and f["name"] in ENDINGS, timeout=60)
                assert end["name"] == "message.completed", end


def test_a_late_subscriber_on_another_process_gets_the_text_so_far(tmp_path, database_url, redis_url):
    """Opening a chat on process B while its reply streams on A — B started after the reply began, so it saw
    none of it: B's subscriber gets the text so far (a `message.delta` from offset 0, `snapshot: true`) and
    then the live deltas, with no gap and no overlap. (A slow reply, stopped once that is seen: B's start-up
    takes seconds.)"""
    env = {**cluster_env(database_url, redis_url), "CHATSVC_OFFLINE_TOKENS_PER_S": "5"}
    with running_server(tmp_path / "data", env=env) as a:
        token = sign_up(a, "fay")
        chat_id = chat_in_project(a, token, "Late")
        with connected(a, token) as early:
            early.op("subscribe", topic=f"chat:{chat_id}")
            status, sent = send(a, token, chat_id)
            assert status == 202, sent
            early.until(lambda f: of_run(f, sent["run_id"]) and f["name"] == "message.delta")
            with running_server(tmp_path / "data", env=env) as b, connected(b, token) as late:
                late.op("subscribe", topic=f"chat:{chat_id}")
                deltas = []
                while True:
                    frame = late.until(lambda f: of_run(f, sent["run_id"]))
                    if frame["name"] in ENDINGS:
                        break
                    if frame["name"] == "message.delta":
                        deltas.append(frame["data"])
                    if len(deltas) == 3:  # the text so far and live deltas after it: enough, stop the reply
                        assert http("POST", f"{b.base}/api/v1/chat/sessions/{chat_id}/cancel", token=token)[0] == 202
    assert frame["name"] == "run.cancelled", frame
    snapshots = [i for i, d in enumerate(deltas) if d.get("snapshot")]
    assert snapshots, deltas[:3]
    first = snapshots[0]
    assert deltas[first]["offset"] == 0 and deltas[first]["text"]
    text = deltas[first]["text"]
    for d in deltas[first + 1:]:  # after the snapshot: contiguous deltas only
        assert d["offset"] == len(text) or (d.get("snapshot") and text.startswith(d["text"])), (d, len(text))
        text = d["text"] if d.get("snapshot") else text + d["text"]
    assert text == frame["data"]["message"]["content"]


def test_an_admin_reconnect_reaches_the_users_sockets_on_every_process(tmp_path, database_url, redis_url):
    """`GET /admin/stats` counts the sockets of every process; `POST /admin/users/{id}/reconnect` on one
    process: the user's sockets on every process get goodbye 1012, and all of them are counted."""
    with two_servers(tmp_path, database_url, redis_url, CHATSVC_FIRST_USER_ADMIN="1") as (a, b):
        admin = sign_up(a, "root")
        user = sign_up(a, "gus")
        _, me = http("GET", f"{a.base}/api/v1/users/me", token=user)
        with connected(a, user) as here, connected(b, user) as there:
            status, stats = http("GET", f"{b.base}/api/v1/admin/stats", token=admin)
            assert status == 200 and stats["live_sockets"] == 2 and stats["processes_missing"] == [], stats
            assert sorted(p["live_sockets"] for p in stats["processes"]) == [1, 1], stats
            status, out = http("POST", f"{a.base}/api/v1/admin/users/{me['id']}/reconnect", token=admin)
            assert status == 200 and out == {"closed": 2}, out
            for ws in (here, there):
                goodbye = ws.until(lambda f: f["type"] == "goodbye", timeout=10)
                assert goodbye["code"] == 1012 and goodbye["reconnect"] is True, goodbye


def started_in_order(ws: Socket, run_ids: list[str]) -> list[str]:
    """The runs among `run_ids` in the order their `run.started` frames arrive."""
    order: list[str] = []
    while len(order) < len(run_ids):
        frame = ws.until(lambda f: f["type"] == "event" and f["name"] == "run.started"
                         and f["data"]["run_id"] in run_ids, timeout=60)
        order.append(frame["data"]["run_id"])
    return order


def test_queued_replies_start_in_the_order_sent_whichever_process_queued_them(tmp_path, database_url, redis_url):
    """`if_busy: enqueue` on two processes: the replies start in the order their messages were sent (the
    chat's order), not each process's own queue first."""
    with two_servers(tmp_path, database_url, redis_url, CHATSVC_OFFLINE_TOKENS_PER_S="150") as (a, b):
        token = sign_up(a, "hal")
        chat_id = chat_in_project(a, token, "Queue")
        with connected(b, token) as ws:
            ws.op("subscribe", topic=f"chat:{chat_id}")
            _, first = send(a, token, chat_id)
            ws.until(lambda f: of_run(f, first["run_id"]) and f["name"] == "message.delta")
            queued = []
            for server in (b, a, b, a):
                status, sent = send(server, token, chat_id, if_busy="enqueue")
                assert status == 202, sent
                queued.append(sent["run_id"])
            assert started_in_order(ws, queued) == queued
            for run_id in queued:
                end = ws.until(lambda f, r=run_id: of_run(f, r) and f["name"] in ENDINGS, timeout=60)
                assert end["name"] == "message.completed", end
        statuses = [r["status"] for r in replies(a, token, chat_id)]
    assert statuses == ["complete"] * 5, statuses


def test_an_interrupt_on_one_process_drops_the_replies_queued_on_every_process(tmp_path, database_url, redis_url):
    """`if_busy: interrupt`: the streaming reply stops wherever it runs, the replies queued behind it on both
    processes are dropped (cancelled, never started), and the new one runs. (A slow model: nothing ends on its
    own before the interrupt, however loaded the machine.)"""
    with two_servers(tmp_path, database_url, redis_url, CHATSVC_OFFLINE_TOKENS_PER_S="5") as (a, b):
        token = sign_up(a, "ike")
        chat_id = chat_in_project(a, token, "Interrupt")
        with connected(b, token) as ws:
            ws.op("subscribe", topic=f"chat:{chat_id}")
            _, streaming = send(a, token, chat_id)
            ws.until(lambda f: of_run(f, streaming["run_id"]) and f["name"] == "message.delta")
            waiting = [send(server, token, chat_id, if_busy="enqueue")[1]["run_id"] for server in (a, b)]
            status, urgent = send(b, token, chat_id, if_busy="interrupt")
            assert status == 202, urgent
            for run_id in (streaming["run_id"], *waiting):
                end = ws.until(lambda f, r=run_id: of_run(f, r) and f["name"] in ENDINGS, timeout=60)
                assert end["name"] == "run.cancelled", end
            started = ws.until(lambda f: of_run(f, urgent["run_id"]) and f["name"] == "run.started", timeout=60)
            assert http("POST", f"{a.base}/api/v1/chat/sessions/{chat_id}/cancel", token=token)[0] == 202
            ws.until(lambda f: of_run(f, urgent["run_id"]) and f["name"] in ENDINGS, timeout=60)
        statuses = [r["status"] for r in replies(a, token, chat_id)]
    assert statuses == ["cancelled"] * 4, statuses  # the urgent one too, stopped by the test once it started
    assert started["data"]["run_id"] == urgent["run_id"]


def test_task_concurrency_holds_for_the_whole_deployment_and_cancel_works_from_any_process(
        tmp_path, database_url, redis_url):
    """CHATSVC_TASK_CONCURRENCY=1 with two processes: a task started on the other process waits until the
    running one ends (here: cancelled from the process that does not run it), then runs."""
    import re

    from tests.fakes.openai_server import StructuredOutput

    def answer(body: dict[str, Any]) -> Any:
        uids = sorted(set(re.findall(r"REQ-\d+", body["messages"][-1]["content"])))
        return StructuredOutput(None, {"test_cases": [
            {"title": f"Check {uid}", "preconditions": "", "steps": [{"action": "do", "expected": "ok"}],
             "expected_result": "ok", "priority": "high", "type": "functional", "requirement_uids": [uid]}
            for uid in uids]}, delay=0.7)

    with fake_model_in_a_thread(answer) as base_url, two_servers(
            tmp_path, database_url, redis_url, CHATSVC_TASK_CONCURRENCY="1", CHATSVC_LLM="openai",
            CHATSVC_OPENAI_BASE_URL=base_url, CHATSVC_OPENAI_API_KEY="test", CHATSVC_LLM_MAX_RETRIES="0") as (a, b):
        token = sign_up(a, "ida")
        _, project = http("POST", f"{a.base}/api/v1/projects", {"name": "Slots"}, token=token)
        spec = "\n".join(f"REQ-{i}: The system shall record audit event number {i}." for i in range(1, 33))
        status, doc = http("POST", f"{a.base}/api/v1/projects/{project['id']}/document-versions",
                           {"title": "Spec", "content": spec}, token=token)
        assert status == 201, doc
        with connected(b, token) as ws:
            ws.op("subscribe", topic=f"project:{project['id']}")
            first = http("POST", f"{a.base}/api/v1/bot/test-cases", {"project_id": project["id"]}, token=token)[1]
            ws.until(lambda f: f["type"] == "event" and f["name"] == "task.progress"
                     and f["data"]["task_id"] == first["task_id"] and f["data"].get("stage") == "started")
            second = http("POST", f"{b.base}/api/v1/bot/test-cases", {"project_id": project["id"]}, token=token)[1]
            time.sleep(1.0)  # a model call or more: the second task would have started by now if it could
            status, waiting = http("GET", f"{b.base}/api/v1/tasks/{second['task_id']}", token=token)
            assert waiting["status"] == "queued", waiting
            status, cancelled = http("POST", f"{b.base}/api/v1/tasks/{first['task_id']}/cancel", token=token)
            assert status == 202, cancelled
            frames = []
            while not any(f["name"] == "task.completed" for f in frames):
                frames.append(ws.until(lambda f: f["type"] == "event" and f["name"] != "task.created"
                                       and f["data"].get("task_id") in (first["task_id"], second["task_id"]),
                                       timeout=60))
    ends = [(f["data"]["task_id"], f["name"]) for f in frames if f["name"] != "task.progress"]
    assert ends == [(first["task_id"], "task.cancelled"), (second["task_id"], "task.completed")], ends
    first_end = next(i for i, f in enumerate(frames) if f["name"] == "task.cancelled")
    second_start = next(i for i, f in enumerate(frames) if f["data"]["task_id"] == second["task_id"]
                        and f["name"] == "task.progress" and f["data"].get("stage") == "started")
    assert first_end < second_start



# --- soak: several processes under mixed load, one killed and restarted every few seconds -------------------

SOAK_S = 60
KILL_EVERY_S = 10
SOAK_LEASE_S = 3
TERMINAL_TASK = ("succeeded", "failed", "cancelled", "interrupted")


class SoakProcess:
    """A server process whose output goes to a file (a minute of load would fill a pipe nobody reads)."""

    def __init__(self, data_dir: Path, env: dict[str, str], log: Path) -> None:
        from tests.procutil import free_port

        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen([sys.executable, "run.py", "--port", str(port), "--data-dir", str(data_dir)],
                                         cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, log.read_text()
            with contextlib.suppress(OSError):
                if http("GET", f"{self.base}/healthz")[0] == 200:
                    return
            assert time.monotonic() < deadline, "a soak process did not become healthy in 60 s"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class SoakLog:
    """What the load saw: acknowledged writes, server errors, resumes (threads append; list.append is atomic)."""

    def __init__(self) -> None:
        self.artifacts: list[str] = []
        self.messages: list[tuple[str, str, str]] = []  # (chat_id, run_id, client_msg_id), each answered 202
        self.tasks: list[str] = []
        self.ended_runs: set[str] = set()
        self.server_errors: list[str] = []
        self.unanswered = 0  # requests whose process died under them (not acknowledged: nothing to check)
        self.refused = 0  # 429s (quotas) and 503s (retryable)
        self.resumes: list[float] = []  # seconds from losing a socket to having resumed every subscription
        self.resume_failures: list[str] = []
        self.gaps: list[str] = []
        self.kills = 0


def soak_load(stop: threading.Event, log: SoakLog, live: list[SoakProcess], token: str, project_id: str,
              chats: list[str], seed: int) -> None:
    """Mixed REST load on random live processes until `stop`: artifacts, chat messages, tasks, reads."""
    rnd = random.Random(seed)
    n = 0
    while not stop.is_set():
        n += 1
        base = rnd.choice(list(live)).base
        op = rnd.choice(("artifact", "artifact", "send", "task", "read"))
        try:
            if op == "artifact":
                status, body = http("POST", f"{base}/api/v1/projects/{project_id}/artifacts",
                                    {"type": "note", "name": f"soak {seed}-{n}", "content": {"n": n}}, token=token)
                if status == 201:
                    log.artifacts.append(body["id"])
            elif op == "send":
                chat_id = rnd.choice(chats)
                if sum(1 for c, r, _ in log.messages if c == chat_id and r not in log.ended_runs) >= 2:
                    continue  # keep each chat's queue short, so that it drains after the soak
                client_msg_id = f"soak-{seed}-{n}"
                status, body = http("POST", f"{base}/api/v1/chat/sessions/{chat_id}/messages",
                                    {"content": "help", "if_busy": "enqueue", "client_msg_id": client_msg_id},
                                    token=token)
                if status == 202:
                    log.messages.append((chat_id, body["run_id"], client_msg_id))
            elif op == "task":
                status, body = http("POST", f"{base}/api/v1/bot/test-cases", {"project_id": project_id}, token=token)
                if status == 202:
                    log.tasks.append(body["task_id"])
            else:
                status, body = http("GET", f"{base}/api/v1/projects/{project_id}", token=token)
            if status >= 500 and status != 503:
                log.server_errors.append(f"{op} on {base}: {status} {body}")
            elif status in (429, 503):
                log.refused += 1
        except (OSError, HTTPException, json.JSONDecodeError):
            log.unanswered += 1  # the process was killed under this request
        time.sleep(0.02)


def soak_socket(stop: threading.Event, log: SoakLog, live: list[SoakProcess], token: str, topics: list[str],
                serving: list[str], index: int) -> None:
    """One websocket client: subscribe to every topic; when its process dies, reconnect to a live one and
    resume each topic with `since` — every missed event must come back, in order, with no gap."""
    position: dict[str, tuple[str, int]] = {}  # topic -> (epoch, last seq seen)
    lost_at: float | None = None
    while not stop.is_set():
        process = random.choice(list(live))
        try:
            with connected(_AsServer(process.base), token) as ws:
                serving[index] = process.base
                for topic in topics:
                    since = position.get(topic)
                    data = ws.op("subscribe", topic=topic,
                                 **({"since": {"epoch": since[0], "seq": since[1]}} if since else {}))
                    if since and not data.get("recovered"):
                        log.resume_failures.append(f"{topic}: {data}")
                    if not since:
                        position[topic] = (data["epoch"], data["seq"])
                if lost_at is not None:
                    log.resumes.append(time.monotonic() - lost_at)
                    lost_at = None
                while not stop.is_set():
                    try:
                        frame = ws.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    if frame["type"] == "reset":
                        log.resume_failures.append(f"reset: {frame}")
                    if frame["type"] != "event":
                        continue
                    epoch, seq = position.get(frame["topic"], (frame["epoch"], frame["seq"] - 1))
                    if frame["data"].get("snapshot") and (frame["epoch"], frame["seq"]) == (epoch, seq):
                        continue  # the text so far, sent to this subscriber alone at the position it was told
                    if frame["epoch"] != epoch or frame["seq"] != seq + 1:
                        log.gaps.append(f"{frame['topic']}: {epoch}/{seq} then {frame['epoch']}/{frame['seq']}")
                    position[frame["topic"]] = (frame["epoch"], frame["seq"])
                    if frame["name"] in ENDINGS:
                        log.ended_runs.add(frame["data"].get("run_id", ""))
        except (OSError, websockets_exceptions.ConnectionClosed, TimeoutError):
            if lost_at is None:
                lost_at = time.monotonic()
            serving[index] = ""
            time.sleep(0.1)


@dataclasses.dataclass
class _AsServer:
    """What `connected` needs of a server: its base URL."""

    base: str


def test_soak_processes_killed_and_restarted_under_mixed_load(tmp_path, database_url, redis_url):
    """Three processes, a minute of mixed REST + streaming + task load and two websocket clients, a process
    killed (-9) and replaced every 10 s: no acknowledged write is lost, no reply or task is left running,
    every socket resumes its subscriptions with nothing missed, and no request answers a 5xx."""
    env = {**cluster_env(database_url, redis_url), "CHATSVC_OFFLINE_TOKENS_PER_S": "300",
           "CHATSVC_RUN_LEASE_S": str(SOAK_LEASE_S), "CHATSVC_TASK_LEASE_S": str(SOAK_LEASE_S),
           "CHATSVC_MAX_RUNS_PER_USER": "1000", "CHATSVC_MAX_TASKS_PER_USER": "4", "CHATSVC_LOG_LEVEL": "WARNING"}
    data_dir = tmp_path / "data"
    started = 0

    def start() -> SoakProcess:
        nonlocal started
        started += 1
        return SoakProcess(data_dir, env, tmp_path / f"process-{started}.log")

    live = [start()]  # alone first: it migrates the new database
    live += [start(), start()]
    everyone = list(live)
    log = SoakLog()
    stop = threading.Event()
    try:
        token = sign_up(live[0], "soak")
        _, project = http("POST", f"{live[0].base}/api/v1/projects", {"name": "Soak"}, token=token)
        spec = "\n".join(f"REQ-{i}: The system shall record audit event number {i}." for i in range(1, 13))
        assert http("POST", f"{live[0].base}/api/v1/projects/{project['id']}/document-versions",
                    {"title": "Spec", "content": spec}, token=token)[0] == 201
        chats = [chat_in_project_of(live[0], token, project["id"]) for _ in range(4)]
        topics = [f"project:{project['id']}", *(f"chat:{c}" for c in chats)]
        serving = ["", ""]
        threads = [threading.Thread(target=soak_load, args=(stop, log, live, token, project["id"], chats, seed))
                   for seed in range(3)]
        threads += [threading.Thread(target=soak_socket, args=(stop, log, live, token, topics, serving, i))
                    for i in range(2)]
        for thread in threads:
            thread.start()
        began = time.monotonic()
        for cycle in range(SOAK_S // KILL_EVERY_S - 1):  # at 10, 20, ... 50 s, whatever a restart takes
            time.sleep(max(0.0, began + (cycle + 1) * KILL_EVERY_S - time.monotonic()))
            # kill the process a websocket client is on (in turn), so that every kill is resumed from
            target = serving[cycle % 2]
            victim = next((p for p in live if p.base == target), random.choice(live))
            live.remove(victim)
            victim.proc.kill()
            victim.proc.wait()
            log.kills += 1
            replacement = start()
            everyone.append(replacement)
            live.append(replacement)
        time.sleep(max(0.0, began + SOAK_S - time.monotonic()))
        stop.set()
        for thread in threads:
            thread.join(30)
        settled = settle(log, live[0], token, chats)
    finally:
        stop.set()
        for process in everyone:
            process.stop()
    summary = {"kills": log.kills, "artifacts": len(log.artifacts), "messages": len(log.messages),
               "tasks": len(log.tasks), "unanswered": log.unanswered, "refused": log.refused,
               "resumes": len(log.resumes), "slowest_resume_s": round(max(log.resumes, default=0), 2),
               "settled_s": round(settled, 1)}
    print("soak:", json.dumps(summary))
    (tmp_path / "soak.json").write_text(json.dumps(summary))
    assert log.kills >= 5, summary
    assert not log.server_errors, log.server_errors[:5]
    assert not log.resume_failures and not log.gaps, (log.resume_failures[:5], log.gaps[:5])
    assert len(log.resumes) >= log.kills, summary  # a socket was on every killed process and came back
    assert log.artifacts and log.messages and log.tasks, summary
    for process in everyone:
        if process.proc.returncode != -signal.SIGKILL:
            assert "Traceback" not in process.log.read_text(), process.log.read_text()[-3000:]


def chat_in_project_of(server: SoakProcess | Server, token: str, project_id: str) -> str:
    status, chat = http("POST", f"{server.base}/api/v1/chat/sessions", {"project_id": project_id}, token=token)
    assert status == 201, chat
    return str(chat["id"])


def settle(log: SoakLog, server: SoakProcess, token: str, chats: list[str]) -> float:
    """After the load: wait until every acknowledged reply and task has ended (a killed process's within about
    a lease, by the survivors' sweeps), then check that every acknowledged write is there; return how long the
    wait took."""
    began = time.monotonic()
    deadline = began + 20 * SOAK_LEASE_S + 60  # queued replies drain one at a time per chat
    acked_runs = {run_id for _, run_id, _ in log.messages}
    while True:
        messages = []
        for chat_id in chats:
            status, page = http("GET", f"{server.base}/api/v1/chat/sessions/{chat_id}/messages?limit=200", token=token)
            assert status == 200, page
            messages += page["items"]
        tasks = [http("GET", f"{server.base}/api/v1/tasks/{task_id}", token=token)[1] for task_id in log.tasks]
        streaming = [m for m in messages if m["status"] == "streaming"]
        running = [t for t in tasks if t["status"] not in TERMINAL_TASK]
        if not streaming and not running:
            break
        assert time.monotonic() < deadline, (f"still streaming: {len(streaming)}, tasks unfinished: "
                                             f"{[(t['id'], t['status']) for t in running][:5]}")
        time.sleep(0.5)
    users = {m["client_msg_id"] for m in messages if m["role"] == "user"}
    replies = {m["run_id"]: m for m in messages if m["role"] == "assistant"}
    assert {c for _, _, c in log.messages} <= users, "an acknowledged message was lost"
    assert acked_runs <= set(replies), "an acknowledged message's reply was lost"
    assert {r["status"] for r in replies.values()} <= {"complete", "interrupted", "cancelled"}, replies
    for artifact_id in log.artifacts:
        status, body = http("GET", f"{server.base}/api/v1/artifacts/{artifact_id}", token=token)
        assert status == 200, ("an acknowledged artifact was lost", artifact_id, body)
    return time.monotonic() - began
