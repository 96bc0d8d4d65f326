"""The OpenAPI document describes what the server does: schemathesis `--checks all` against the real server
(`python run.py` on SQLite), as a plain user and as an admin, must find nothing.

Bounded for CI: a few examples per operation, a fixed seed (so a failure reproduces), a time limit. Other seeds,
more examples and a full admin run are run by hand (the same command with `--seed N --max-examples 20` and no
`--include-tag`): they must be clean too, and whatever they find is fixed in the server or the schema, then
pinned by a focused test in tests/test_openapi.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.procutil import http, running_server, server_env

SEED = 20261205  # fixed for CI; other seeds are run by hand
MAX_EXAMPLES = 4
# The time limit of one run. Not schemathesis' --max-time: that one fuzzes on until the budget is spent. The
# user run takes about 35 s here (2 slow cores), the admin one 10 s; past the limit the test fails, showing what
# schemathesis printed so far. One worker: with two, hypothesis parses lambda sources on two threads at once,
# and CPython 3.11 before 3.11.9 can fail that ("SystemError: AST constructor recursion depth mismatch", a tool
# error, not a finding).
LIMIT_S = 150
PASSWORD = "Schemathesis-pass-1"

# Operations a fuzzer may not call with the run's own token: each ends the caller's credentials (logout, a
# password change that logs out the other sessions, the cookie session) for every request after it. The
# websocket needs an upgrade a plain HTTP request cannot make (tests/test_ws.py covers it).
EXCLUDED = (
    "post_api_v1_users_logout",
    "post_api_v1_users_me_password",
    "delete_api_v1_users_session",
    "get_api_v1_ws",
)

# Operations whose valid-looking bodies may name something that does not exist or does not fit (DESIGN: "a
# document version of the same project (else 422)", a `file_id` of this project, a member's username, a
# `before` message of this session, an export format or content that fits the artifact's type, requirement
# uids of the document or of the artifact's cases, a file that is no test suite or JUnit report, a password
# whose UTF-8 bytes are out of bounds or a common one in other letter case, an artifact of type test_cases with
# room for one more case for the per-case edits): a schema cannot know which ids
# exist or what a file holds, so for these alone a 422 is an accepted answer to
# schema-valid data. Everything else must accept what the schema allows.
SEMANTIC_422 = (
    "post_api_v1_bot_coverage",
    "post_api_v1_bot_coverage_sync",
    "post_api_v1_bot_test_cases",
    "get_api_v1_artifacts_id_export",
    "post_api_v1_artifacts_id_links",
    "post_api_v1_artifacts_id_test_cases",
    "post_api_v1_artifacts_id_test_cases_delete",
    "patch_api_v1_artifacts_id_test_cases_tc_id",
    "get_api_v1_artifacts_id_test_cases_tc_id_history",
    "patch_api_v1_artifacts_id",
    "get_api_v1_chat_sessions_id_messages",
    "post_api_v1_projects_id_artifacts",
    "post_api_v1_projects_id_artifacts_import",
    "post_api_v1_projects_id_document_versions",
    "post_api_v1_projects_id_document_versions_preview",
    "post_api_v1_projects_id_members",
    "post_api_v1_projects_id_test_runs_import",
    "post_api_v1_users_register",
)
ADMIN_TAGS = ("admin", "rbac")
ACCEPTED = ("2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx")  # 5xx is caught by its own check


def schemathesis_bin() -> str:
    """The CLI from the test extra; missing is a failure with the fix, never a silent skip."""
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if found is None:
        pytest.fail("schemathesis is not installed: pip install -e '.[test]' (it is in the test extra)")
    return found


def write_config(path: Path) -> Path:
    ids = ", ".join(f'"{op}"' for op in SEMANTIC_422)
    statuses = ", ".join(f'"{status}"' for status in ACCEPTED)
    path.write_text(f"[[operations]]\ninclude-operation-id = [{ids}]\n"
                    f"checks.positive_data_acceptance.expected-statuses = [{statuses}]\n")
    return path


def token_for(base: str, username: str) -> str:
    status, body = http("POST", f"{base}/api/v1/users/register",
                        {"email": f"{username}@example.com", "username": username, "password": PASSWORD})
    assert status == 201, body
    status, body = http("POST", f"{base}/api/v1/users/login", {"username": username, "password": PASSWORD},
                        form=True)
    assert status == 200, body
    return str(body["access_token"])


def run_schemathesis(base: str, token: str, config: Path, *only: str) -> subprocess.CompletedProcess[str]:
    filters = [arg for op in EXCLUDED for arg in ("--exclude-operation-id", op)]
    filters += [arg for tag in only for arg in ("--include-tag", tag)]
    try:
        return subprocess.run(
            [schemathesis_bin(), "--config-file", str(config), "run", f"{base}/api/v1/openapi.json",
             "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
             "--no-color", "--report-dir", str(config.parent), "-H", f"Authorization: Bearer {token}", *filters],
            # In the test's own folder: no example database or cache from an earlier run changes what this one does.
            cwd=config.parent, capture_output=True, text=True, timeout=LIMIT_S,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"schemathesis ran past {LIMIT_S} s:\n{exc.stdout!r}\n{exc.stderr!r}")


@pytest.mark.timeout(600)
def test_schemathesis_finds_nothing_as_user_and_as_admin(tmp_path: Path) -> None:
    config = write_config(tmp_path / "schemathesis.toml")
    env = server_env(CHATSVC_FIRST_USER_ADMIN="1", CHATSVC_REGISTRATIONS_PER_IP="100000")
    with running_server(tmp_path / "data", env=env) as server:
        admin = token_for(server.base, "fuzzadmin")  # the first account: an admin
        user = token_for(server.base, "fuzzuser")
        assert http("GET", f"{server.base}/api/v1/users/me", token=admin)[1]["is_superuser"] is True
        # The user run covers every operation; the admin run the ones a user only gets 403 from (the admin and
        # rbac areas), which keeps the test near a minute. Full admin runs (no tag filter) are run by hand.
        for who, token, only in (("user", user, ()), ("admin", admin, ADMIN_TAGS)):
            done = run_schemathesis(server.base, token, config, *only)
            assert done.returncode == 0, f"schemathesis as {who} found problems:\n{done.stdout}\n{done.stderr}"
            assert "Test cases:" in done.stdout, done.stdout
    # No 500 of ours (the error middleware logs each). aiohttp's own 400 for a request line or header it cannot
    # parse logs a traceback before our app sees the request: that one is expected from a fuzzer.
    assert "Unhandled error" not in server.output, server.output
