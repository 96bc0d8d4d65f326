"""`python run.py` as a user runs it: serve on a free port, create-user, migrate, clean Ctrl-C."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
from pathlib import Path

from tests.procutil import ROOT, http, running_server, server_env


def env_for(data_dir: Path) -> dict[str, str]:
    return server_env()


def run_cli(*args: str, data_dir: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py", *args, "--data-dir", str(data_dir)], cwd=ROOT, env=env_for(data_dir),
        input=stdin, capture_output=True, text=True, timeout=120,
    )


def test_serve_register_login_project_and_sigint(tmp_path: Path):
    data_dir = tmp_path / "data"
    with running_server(data_dir) as server:
        base = server.base
        status, user = http("POST", f"{base}/api/v1/users/register",
                            {"email": "new@example.com", "username": "newbie", "password": "a long password"})
        assert status == 201, user
        status, tok = http("POST", f"{base}/api/v1/users/login",
                           {"username": "newbie", "password": "a long password"}, form=True)
        assert status == 200, tok
        status, project = http("POST", f"{base}/api/v1/projects", {"name": "From the CLI test"},
                               token=tok["access_token"])
        assert status == 201, project
        assert project["my_role"] == "owner"
    assert server.proc.returncode == 0, server.output
    assert f"listening on {base}" in server.output
    key = data_dir / "secret.key"
    assert key.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (data_dir / "chatsvc.db").exists()
    assert "Traceback" not in server.output
    # A new install says nobody can sign in yet, and how to make the first account.
    assert "No accounts yet" in server.output and "create-user --admin" in server.output


def test_a_busy_port_is_one_clear_line_and_touches_nothing(tmp_path: Path):
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "run.py", "--port", str(port), "--data-dir", str(data_dir)],
                              cwd=ROOT, env=env_for(data_dir), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"error: port {port} is in use on 127.0.0.1; choose another with --port"
    assert not data_dir.exists()


def test_a_second_start_with_accounts_gives_no_first_start_hint(tmp_path: Path):
    data_dir = tmp_path / "data"
    done = run_cli("create-user", "--username", "first", "--email", "first@example.com", "--password-stdin",
                   data_dir=data_dir, stdin="the first password\n")
    assert done.returncode == 0, done.stderr
    with running_server(data_dir) as server:
        pass
    assert server.proc.returncode == 0 and "listening on" in server.output, server.output
    assert "No accounts yet" not in server.output


def test_create_user_admin_then_login(tmp_path: Path):
    data_dir = tmp_path / "fresh" / "data"  # create-user makes the data dir when missing
    done = run_cli("create-user", "--username", "root1", "--email", "root@example.com", "--admin",
                   "--password-stdin", data_dir=data_dir, stdin="the admin password\n")
    assert done.returncode == 0, done.stderr
    assert "created admin user root1" in done.stdout
    again = run_cli("create-user", "--username", "root1", "--email", "other@example.com",
                    "--password-stdin", data_dir=data_dir, stdin="the admin password\n")
    assert again.returncode == 2 and "already taken" in again.stderr
    weak = run_cli("create-user", "--username", "x2", "--email", "x2@example.com", "--password-stdin",
                   data_dir=data_dir, stdin="short\n")
    assert weak.returncode == 2 and "password" in weak.stderr.lower()


def test_migrate_is_idempotent(tmp_path: Path):
    data_dir = tmp_path / "data"
    for _ in range(2):
        done = run_cli("migrate", data_dir=data_dir)
        assert done.returncode == 0, done.stderr
        assert "database is up to date" in done.stdout


def test_bad_configuration_exits_with_a_message(tmp_path: Path):
    done = subprocess.run([sys.executable, "run.py", "--llm", "nonsense"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "invalid choice" in done.stderr
    env = env_for(tmp_path) | {"CHATSVC_WORKERS": "0"}
    done = subprocess.run([sys.executable, "run.py", "--data-dir", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "workers" in done.stderr
