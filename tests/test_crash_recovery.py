"""A real crash: `python run.py` on SQLite killed with SIGKILL while a reply streams and a task runs.

After the restart the task is `interrupted` (not `running` until some lease happens to be swept) and a cancel
of it changes nothing; the reply is `interrupted` and keeps every character that streamed at least a second
before the kill (the checkpoint promise), whatever pauses the model made.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from tests.fakes.openai_server import Slow, StructuredOutput
from tests.procutil import fake_model_in_a_thread, http, running_server, server_env

websockets_sync = pytest.importorskip("websockets.sync.client")

PASSWORD = "a long password"
CHECKPOINT_S = 1.0  # DESIGN: a streaming reply is checkpointed at least every second


def model(body: dict[str, Any]) -> Any:
    """Test generation thinks for a long time; a chat reply streams a word every 50 ms, with a 1.5 s pause."""
    if body.get("tool_choice"):
        uids = sorted(set(re.findall(r"REQ-\d+", body["messages"][-1]["content"])))
        return StructuredOutput(None, {"test_cases": [
            {"title": f"Check {uid}", "preconditions": "", "steps": [{"action": "do", "expected": "ok"}],
             "expected_result": "ok", "priority": "high", "type": "functional", "requirement_uids": [uid]}
            for uid in uids]}, delay=60)
    delays = [0.05] * 30 + [1.5] + [0.05] * 400
    return Slow("word " * 430, delay_per_chunk=delays, chunk_size=5)


def test_a_kill_9_leaves_no_task_running_and_loses_no_checkpointed_text(tmp_path):
    with fake_model_in_a_thread(model) as base_url:
        env = server_env(CHATSVC_LLM="openai", CHATSVC_OPENAI_BASE_URL=base_url, CHATSVC_OPENAI_API_KEY="test",
                         CHATSVC_LLM_MAX_RETRIES="0")
        with running_server(tmp_path / "data", env=env) as server:
            api = f"{server.base}/api/v1"
            assert http("POST", f"{api}/users/register", {"email": "k@example.com", "username": "kim",
                                                           "password": PASSWORD})[0] == 201
            token = http("POST", f"{api}/users/login", {"username": "kim", "password": PASSWORD})[1]["access_token"]
            project = http("POST", f"{api}/projects", {"name": "Crash"}, token=token)[1]
            assert http("POST", f"{api}/projects/{project['id']}/document-versions",
                        {"title": "Spec", "content": "REQ-1: The system shall log in users."}, token=token)[0] == 201
            chat = http("POST", f"{api}/chat/sessions", {"project_id": project["id"]}, token=token)[1]
            status, task = http("POST", f"{api}/bot/test-cases", {"project_id": project["id"]}, token=token)
            assert status == 202, task
            with websockets_sync.connect(f"ws{server.base[4:]}/api/v1/ws", open_timeout=10,
                                         additional_headers={"Authorization": f"Bearer {token}"}) as ws:
                assert json.loads(ws.recv(10))["type"] == "welcome"
                ws.send(json.dumps({"id": 1, "op": "subscribe", "topic": f"chat:{chat['id']}"}))
                status, sent = http("POST", f"{api}/chat/sessions/{chat['id']}/messages", {"content": "hi"},
                                    token=token)
                assert status == 202, sent
                streamed: list[tuple[float, str]] = []  # (when received, text) of each delta
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:  # through the pause and a second of text after it
                    frame = json.loads(ws.recv(10))
                    if frame.get("name") == "message.delta":
                        streamed.append((time.monotonic(), frame["data"]["text"]))
                    if len("".join(t for _, t in streamed)) > 5 * 45 and streamed[-1][0] - streamed[0][0] > 3:
                        break
                assert http("GET", f"{api}/tasks/{task['task_id']}", token=token)[1]["status"] == "running"
                server.proc.kill()
                killed_at = time.monotonic()
                server.proc.wait(10)
        owed = "".join(text for at, text in streamed if at <= killed_at - CHECKPOINT_S)
        assert len(owed) >= 5 * 30, "the text before the pause streamed more than a second before the kill"

        with running_server(tmp_path / "data", env=env) as server:
            api = f"{server.base}/api/v1"
            token = http("POST", f"{api}/users/login", {"username": "kim", "password": PASSWORD})[1]["access_token"]
            after = http("GET", f"{api}/tasks/{task['task_id']}", token=token)[1]
            assert after["status"] == "interrupted" and after["finished_at"], after
            status, cancelled = http("POST", f"{api}/tasks/{task['task_id']}/cancel", token=token)
            assert status == 202 and cancelled["status"] == "interrupted", cancelled  # ended: nothing to change
            assert http("GET", f"{api}/tasks/{task['task_id']}", token=token)[1]["status"] == "interrupted"
            items = http("GET", f"{api}/chat/sessions/{chat['id']}/messages", token=token)[1]["items"]
            reply = next(m for m in items if m["role"] == "assistant")
            assert reply["status"] == "interrupted", reply
            assert reply["content"].startswith(owed), (len(reply["content"]), len(owed))
