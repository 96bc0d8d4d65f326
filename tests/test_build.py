"""The single-file build: build chatsvc.pyz, run it away from the checkout with nothing but Python, use it over HTTP."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.procutil import ROOT, Server, free_port, http, server_env

STATIC_SRC = ROOT / "static"
PASSWORD = "a long password"


def client_files() -> dict[str, bytes]:
    """The browser client as the checkout has it: every file under static/ but the package marker and caches."""
    return {p.relative_to(STATIC_SRC).as_posix(): p.read_bytes() for p in sorted(STATIC_SRC.rglob("*"))
            if p.is_file() and p.name != "__init__.py" and "__pycache__" not in p.parts
            and not p.name.startswith(".")}


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """Build the pyz once (tens of seconds); return it with the client files it was built from."""
    out_dir = tmp_path_factory.mktemp("build")
    client = client_files()  # read just before the build copies the tree: others may be editing static/
    done = subprocess.run([sys.executable, "-m", "chatsvc.build", "--output", str(out_dir / "chatsvc.pyz")],
                          cwd=out_dir, capture_output=True, text=True, timeout=900, check=False)  # any cwd works
    assert done.returncode == 0, f"build failed:\n{done.stdout}\n{done.stderr}"
    assert (out_dir / "chatsvc.pyz").is_file(), done.stdout
    return out_dir / "chatsvc.pyz", client


def bare_env(shiv_root: Path) -> dict[str, str]:
    """A user's environment: no CHATSVC_*, PYTHON* or SHIV_* settings; extract into shiv_root, not ~/.shiv."""
    env = {k: v for k, v in server_env().items() if not k.startswith(("PYTHON", "SHIV_"))}
    return env | {"SHIV_ROOT": str(shiv_root), "PYTHONUNBUFFERED": "1"}


def pyz_cmd(pyz: Path, *args: str) -> list[str]:
    # -S: no site-packages at all (not this venv's, where chatsvc is installed from the checkout), as on a
    # machine with nothing but Python; the pyz must bring everything it imports.
    return [sys.executable, "-S", str(pyz), *args]


def fetch(url: str) -> tuple[int, str, bytes]:
    """GET url; return (status, content type, body bytes)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.headers.get_content_type(), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read()


@contextlib.contextmanager
def serving(pyz: Path, data_dir: Path, env: dict[str, str], timeout: float = 60) -> Iterator[Server]:
    """Start `python chatsvc.pyz serve` in the pyz's folder, wait for /healthz, yield it, then stop it with SIGINT."""
    port = free_port()
    proc = subprocess.Popen(pyz_cmd(pyz, "serve", "--port", str(port), "--data-dir", str(data_dir)),
                            cwd=pyz.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server = Server(proc, f"http://127.0.0.1:{port}", data_dir)
    try:
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            with contextlib.suppress(urllib.error.URLError, ConnectionError):
                if http("GET", f"{server.base}/healthz")[0] == 200:
                    break
            assert time.monotonic() < deadline, f"pyz did not become healthy in {timeout} s"
            time.sleep(0.1)
        assert proc.poll() is None, f"pyz exited early:\n{proc.stdout.read() if proc.stdout else ''}"
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            server.output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            server.output, _ = proc.communicate()
            server.output += "\n[killed: no exit within 20 s of SIGINT]"


@pytest.mark.timeout(900)  # builds the pyz (pip + shiv) in its fixture: minutes on a loaded machine
def test_pyz_runs_the_product_outside_the_checkout(build: tuple[Path, dict[str, bytes]], tmp_path: Path):
    built, client = build
    home = tmp_path / "elsewhere"
    home.mkdir()
    assert not home.resolve().is_relative_to(ROOT)
    pyz = Path(shutil.copy2(built, home / "chatsvc.pyz"))
    shiv_root = (tmp_path / "shiv").resolve()
    env = bare_env(shiv_root)

    # Our code, the client and the dependencies all come from the pyz's extracted site-packages.
    probe = ("import json, sys, aiohttp, chatsvc, handlers.ops, storage.migrate; print(json.dumps({"
             "'chatsvc': chatsvc.__file__, 'static': str(handlers.ops.STATIC_DIR), 'aiohttp': aiohttp.__file__,"
             "'migrations': str(storage.migrate.MIGRATIONS_DIR), 'path': sys.path}))")
    done = subprocess.run(pyz_cmd(pyz, "-c", probe), cwd=home, env=env | {"SHIV_INTERPRETER": "1"},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    where = json.loads(done.stdout.splitlines()[-1])
    for name in ("chatsvc", "static", "aiohttp", "migrations"):
        assert Path(where[name]).resolve().is_relative_to(shiv_root), where
    assert not any(Path(p).resolve().is_relative_to(ROOT) for p in where["path"]), where["path"]
    assert (Path(where["migrations"]) / "versions").is_dir()

    # create-user works like `python run.py create-user` (migrations included).
    data_dir = home / "data"
    done = subprocess.run(pyz_cmd(pyz, "create-user", "--username", "root1", "--email", "root@example.com",
                                  "--admin", "--password-stdin", "--data-dir", str(data_dir)),
                          cwd=home, env=env, input=PASSWORD + "\n", capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created admin user root1" in done.stdout

    with serving(pyz, data_dir, env) as server:
        base = server.base
        status, user = http("POST", f"{base}/api/v1/users/register",
                            {"email": "new@example.com", "username": "newbie", "password": PASSWORD})
        assert status == 201, user
        status, tok = http("POST", f"{base}/api/v1/users/login", {"username": "newbie", "password": PASSWORD})
        assert status == 200, tok
        token = tok["access_token"]
        status, me = http("GET", f"{base}/api/v1/users/me", token=token)
        assert status == 200 and me["username"] == "newbie", me
        status, admin = http("POST", f"{base}/api/v1/users/login", {"username": "root1", "password": PASSWORD})
        assert status == 200, admin

        # The offline model answers in an agent worker process started from the pyz.
        status, chat = http("POST", f"{base}/api/v1/chat/sessions", {"title": "From the pyz"}, token=token)
        assert status == 201, chat
        status, sent = http("POST", f"{base}/api/v1/chat/sessions/{chat['id']}/messages", {"content": "help"},
                            token=token)
        assert status == 202, sent
        reply = sent["assistant_message"]
        deadline = time.monotonic() + 60
        while reply["status"] == "streaming" and time.monotonic() < deadline:
            time.sleep(0.2)
            status, page = http("GET", f"{base}/api/v1/chat/sessions/{chat['id']}/messages", token=token)
            assert status == 200, page
            reply = next(m for m in page["items"] if m["id"] == reply["id"])
        assert reply["status"] == "complete" and reply["content"], reply

        # The browser client shipped as package data: every file is served exactly as in the checkout.
        status, ctype, _ = fetch(f"{base}/api/docs")
        assert (status, ctype) == (200, "text/html")
        if "index.html" in client:
            assert fetch(f"{base}/") == (200, "text/html", client["index.html"])
        missing = [rel for rel, body in client.items() if fetch(f"{base}/static/{rel}")[::2] != (200, body)]
        assert not missing, f"not shipped in the pyz (add its pattern to [options.package_data] static): {missing}"

    assert server.proc.returncode == 0, server.output
    assert f"listening on {base}" in server.output
    assert "Traceback" not in server.output, server.output
    assert (data_dir / "chatsvc.db").exists()
