"""The documented websocket client (docs/ws_client_example.py, `websockets` library) works against `run.py`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.procutil import ROOT, http, running_server


def test_example_client_sees_a_rest_edit(tmp_path: Path):
    with running_server(tmp_path / "data") as server:
        base = server.base
        assert http("POST", f"{base}/api/v1/users/register",
                    {"email": "ada@example.com", "username": "ada", "password": "correct horse battery"})[0] == 201
        _, tok = http("POST", f"{base}/api/v1/users/login", {"username": "ada", "password": "correct horse battery"})
        token = tok["access_token"]
        _, project = http("POST", f"{base}/api/v1/projects", {"name": "Watched"}, token=token)
        client = subprocess.Popen(
            [sys.executable, "docs/ws_client_example.py", "--url", base, "--username", "ada",
             "--password", "correct horse battery", "--project", project["id"], "--count", "1"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert client.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while not any("subscribed at seq" in line for line in lines):
            assert time.monotonic() < deadline and client.poll() is None, "".join(lines)
            lines.append(client.stdout.readline())
        status, _ = http("PATCH", f"{base}/api/v1/projects/{project['id']}", {"name": "Renamed"}, token=token)
        assert status == 200
        out, _ = client.communicate(timeout=30)
        lines.append(out)
    text = "".join(lines)
    assert client.returncode == 0, text
    assert "project.updated" in text and "Renamed" in text
