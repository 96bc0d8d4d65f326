"""Run the real server (`python run.py`) as a subprocess on a free port, and talk to it with urllib."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATSVC_")}
    env.update(CHATSVC_BCRYPT_ROUNDS="4", PYTHONUNBUFFERED="1", CHATSVC_REGISTRATIONS_PER_IP="10000")
    env.update(extra)
    return env


def http(method: str, url: str, body: Any = None, token: str | None = None, form: bool = False) -> tuple[int, Any]:
    """Send one request; return (status, decoded JSON or None)."""
    data = None
    headers = {}
    if body is not None:
        if form:
            data = "&".join(f"{k}={v}" for k, v in body.items()).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@dataclass
class Server:
    proc: subprocess.Popen[str]
    base: str
    data_dir: Path
    output: str = ""


@contextlib.contextmanager
def running_server(data_dir: Path, *args: str, env: dict[str, str] | None = None,
                   timeout: float = 30) -> Iterator[Server]:
    """Start `python run.py`, wait for /healthz, yield it, then stop it with SIGINT."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "run.py", "--port", str(port), "--data-dir", str(data_dir), *args],
        cwd=ROOT, env=env or server_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: a kill reaches --workers N's children too
    )
    server = Server(proc, f"http://127.0.0.1:{port}", data_dir)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{proc.stdout.read() if proc.stdout else ''}")
            try:
                if http("GET", f"{server.base}/healthz")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not become healthy in {timeout} s")
            time.sleep(0.05)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:  # past the server's own bounds (its stack dump at 20 s, --workers N's kill at 30 s)
            server.output, _ = proc.communicate(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # children hold the output pipe open: kill them all
            server.output, _ = proc.communicate(timeout=10)
            raise AssertionError(f"the server did not stop within 45 s of SIGINT:\n{server.output}") from None
        if "did not stop within" in server.output or "Timeout (0:00:" in server.output:
            raise AssertionError(f"a server process hung while stopping:\n{server.output}")


@contextlib.contextmanager
def fake_model_in_a_thread(rule: Callable[[dict[str, Any]], Any]) -> Iterator[str]:
    """The fake OpenAI server on a loop of its own thread (these tests block); yields its base URL."""
    import threading

    from tests.fakes.openai_server import start_fake_openai

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = asyncio.run_coroutine_threadsafe(start_fake_openai(), loop).result(10)
    fake.rule = rule
    try:
        yield fake.base_url
    finally:
        asyncio.run_coroutine_threadsafe(fake.close(), loop).result(10)
        asyncio.run_coroutine_threadsafe(_cancel_the_rest(), loop).result(10)  # answers still thinking
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
    assert not fake.errors, fake.errors


async def _cancel_the_rest() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
