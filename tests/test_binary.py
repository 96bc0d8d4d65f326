"""The self-contained executable: build dist/chatsvc, run it with no Python anywhere on PATH, use it for real.

Figures (build time, size, time to /healthz on each start) are printed, never asserted (DESIGN: speed is
measured, not asserted); run with -s to see them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chatutil import ENDINGS, of_run, streamed_text
from tests.conftest import redis_url_with
from tests.procutil import ROOT, Server, free_port, http, server_env
from tests.test_build import PASSWORD, client_files, fetch

pytest.importorskip("PyInstaller", reason="the binary build needs PyInstaller (the test and build extras)")
websockets_sync = pytest.importorskip("websockets.sync.client")
pytest.importorskip("redis.asyncio")  # imported here, not by the redis_prefix fixture on the event loop

REQUIREMENTS = ("# Login\nREQ-1: The system shall log in users.\n"
                "REQ-2: The system shall lock an account after 5 failures.\n")


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """Build the executable once (a few minutes: PyInstaller analyses every import); return it with the client files."""
    out_dir = tmp_path_factory.mktemp("binary")
    client = client_files()  # read just before the build reads the tree: others may be editing static/
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "chatsvc.binary", "--output", str(out_dir / "chatsvc")],
                          cwd=out_dir, capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, f"build failed:\n{done.stdout}\n{done.stderr}"
    built = out_dir / "chatsvc"
    print(f"\nbinary: built in {time.monotonic() - started:.0f} s, {built.stat().st_size / 1e6:.1f} MB")
    return built, client


def no_python_env(tmp_path: Path) -> dict[str, str]:
    """A machine without Python: PATH is an empty folder, no PYTHON*/VIRTUAL_ENV settings, a home of its own.

    TMPDIR is ours so the test can see the executable unpack there and clean up after itself.
    """
    for name in ("bin", "home", "unpack"):
        (tmp_path / name).mkdir()
    env = {k: v for k, v in server_env().items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CONDA", "_MEI", "_PYI"))}
    env |= {"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path / "unpack")}
    assert shutil.which("python3", path=env["PATH"]) is None and shutil.which("python", path=env["PATH"]) is None
    return env


@contextlib.contextmanager
def serving(exe: Path, cwd: Path, env: dict[str, str], *args: str, processes: int = 1,
            timeout: float = 60) -> Iterator[Server]:
    """Start `./chatsvc ARGS --port N` in cwd, wait until /healthz answers and each of its server processes
    says it listens (printing how long it took), yield, then stop it with SIGINT.

    Output goes to a file, so it can be read while the server runs: a process SIGINT reaches while it is still
    importing ends with a KeyboardInterrupt traceback, which is not what this test is about.
    """
    port = free_port()
    log = cwd.parent / f"chatsvc-{port}.log"
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen([str(exe), *args, "--port", str(port)], cwd=cwd, env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    server = Server(proc, f"http://127.0.0.1:{port}", cwd / "data")
    try:
        while proc.poll() is None:
            with contextlib.suppress(urllib.error.URLError, ConnectionError):
                if http("GET", f"{server.base}/healthz")[0] == 200 \
                        and log.read_text().count(f"listening on {server.base}") >= processes:
                    break
            assert time.monotonic() - started < timeout, f"the binary did not start in {timeout} s"
            time.sleep(0.05)
        assert proc.poll() is None, f"the binary exited early:\n{log.read_text()}"
        print(f"\nbinary: /healthz answered {time.monotonic() - started:.2f} s after start (unpack included)")
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            with log.open("a") as out:
                out.write("\n[killed: no exit within 30 s of SIGINT]")
        server.output = log.read_text()


def sign_up(base: str, username: str) -> str:
    """Register and log in over REST; return the bearer token."""
    status, user = http("POST", f"{base}/api/v1/users/register",
                        {"email": f"{username}@example.com", "username": username, "password": PASSWORD})
    assert status == 201, user
    status, tok = http("POST", f"{base}/api/v1/users/login", {"username": username, "password": PASSWORD})
    assert status == 200, tok
    return str(tok["access_token"])


def recv_run(base: str, token: str, chat_id: str, content: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Send a message over REST and read its run's events from the websocket until the run ends."""
    with websockets_sync.connect(f"ws{base[4:]}/api/v1/ws", open_timeout=10,
                                 additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert json.loads(ws.recv(20))["type"] == "welcome"
        ws.send(json.dumps({"id": 1, "op": "subscribe", "topic": f"chat:{chat_id}"}))
        while not ((frame := json.loads(ws.recv(20)))["type"] == "result" and frame["id"] == 1):
            pass
        assert frame["ok"], frame
        status, sent = http("POST", f"{base}/api/v1/chat/sessions/{chat_id}/messages", {"content": content},
                            token=token)
        assert status == 202, sent
        events: list[dict[str, Any]] = []
        while not events or events[-1]["name"] not in ENDINGS:
            frame = json.loads(ws.recv(60))  # the first reply starts the agent worker processes
            if of_run(frame, sent["run_id"]):
                events.append(frame)
    return sent, events


def descendant_commands(pid: int) -> list[str]:
    """The command lines of pid's descendants (Linux /proc): the one-file bootloader's Python child, its workers."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        todo += parents.get(child, [])
        with contextlib.suppress(OSError):
            found.append(Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    return found


def assert_clean_stop(server: Server, unpack: Path) -> None:
    """SIGINT ended the server (and its agent workers) with exit 0, and the unpacked bundle was removed."""
    assert server.proc.returncode == 0, server.output
    assert "Traceback" not in server.output, server.output
    assert f"listening on {server.base}" in server.output
    assert not any(unpack.iterdir()), f"left unpacked: {list(unpack.iterdir())}"


@pytest.mark.timeout(1500)  # builds the binary in its fixture: minutes on a loaded machine
def test_binary_runs_the_product_with_no_python_on_path(binary: tuple[Path, dict[str, bytes]], tmp_path: Path):
    built, client = binary
    env = no_python_env(tmp_path)
    home = tmp_path / "home"
    assert not home.resolve().is_relative_to(ROOT)
    exe = Path(shutil.copy2(built, home / "chatsvc"))
    unpack = tmp_path / "unpack"

    # create-user works like `python run.py create-user` (migrations included), data in --data-dir.
    done = subprocess.run([str(exe), "create-user", "--username", "root1", "--email", "root@example.com", "--admin",
                           "--password-stdin", "--data-dir", str(home / "data")],
                          cwd=home, env=env, input=PASSWORD + "\n", capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created admin user root1" in done.stdout

    # `./chatsvc` with no command serves; its data is ./data, where create-user put it, not in the binary.
    with serving(exe, home, env) as server:
        base = server.base
        token = sign_up(base, "newbie")
        status, admin = http("POST", f"{base}/api/v1/users/login", {"username": "root1", "password": PASSWORD})
        assert status == 200, admin
        status, project = http("POST", f"{base}/api/v1/projects", {"name": "Frozen"}, token=token)
        assert status == 201, project
        status, doc = http("POST", f"{base}/api/v1/projects/{project['id']}/document-versions",
                           {"title": "Spec", "content": REQUIREMENTS}, token=token)
        assert status == 201, doc
        status, chat = http("POST", f"{base}/api/v1/chat/sessions", {"title": "Binary", "project_id": project["id"]},
                            token=token)
        assert status == 201, chat

        # The offline model answers in agent worker processes started from the executable, streaming deltas.
        _, events = recv_run(base, token, chat["id"], "Which requirements does the spec have?")
        names = [e["name"] for e in events]
        assert names[-1] == "message.completed", names
        assert "message.delta" in names, names
        reply = events[-1]["data"]["message"]
        assert reply["status"] == "complete" and streamed_text(events) == reply["content"] != "", reply
        # ... in worker processes forked from a fork server that runs the executable itself (run.py's
        # freeze_support), not in threads of the server.
        workers = descendant_commands(server.proc.pid)
        assert any("multiprocessing.forkserver" in cmd for cmd in workers), workers

        # The browser client is inside: every file served exactly as in the checkout.
        assert fetch(f"{base}/api/docs")[:2] == (200, "text/html")
        missing = [rel for rel, body in client.items() if fetch(f"{base}/static/{rel}")[::2] != (200, body)]
        assert not missing, f"not in the binary (chatsvc/binary.py DATA_DIRS): {missing}"
    assert_clean_stop(server, unpack)
    assert (home / "data" / "chatsvc.db").exists() and (home / "data").stat().st_size > 0

    # A second start (unpacks again: a one-file build unpacks on every start) finds the same data.
    with serving(exe, home, env, "serve") as server:
        status, tok = http("POST", f"{server.base}/api/v1/users/login", {"username": "newbie", "password": PASSWORD})
        assert status == 200, tok
        status, projects = http("GET", f"{server.base}/api/v1/projects", token=tok["access_token"])
        assert status == 200 and [p["name"] for p in projects["items"]] == ["Frozen"], projects
    assert_clean_stop(server, unpack)
    assert not os.path.exists(home / "chatsvc.db")  # data never lands beside the binary either


@pytest.mark.timeout(1500)
def test_binary_starts_server_processes_with_spawn(binary: tuple[Path, dict[str, bytes]], tmp_path: Path,
                                                   redis_prefix: str):
    """--workers N starts its server processes with the spawn method: from the executable, through freeze_support."""
    built, _ = binary
    env = no_python_env(tmp_path) | {"CHATSVC_REDIS_URL": redis_url_with(redis_prefix)}
    exe = Path(shutil.copy2(built, tmp_path / "home" / "chatsvc"))
    with serving(exe, tmp_path / "home", env, "serve", "--workers", "2", processes=2) as server:
        assert sign_up(server.base, "spawned")
        processes = descendant_commands(server.proc.pid)
        assert sum("--multiprocessing-fork" in cmd for cmd in processes) == 2, processes
    assert_clean_stop(server, tmp_path / "unpack")
