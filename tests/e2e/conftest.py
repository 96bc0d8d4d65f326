"""Browser-test fixtures: the real server as a subprocess, Playwright driving Debian's headless Chromium.

Event loops: Playwright's sync API runs its own asyncio loop in this (the main) thread, and between two sync calls
it leaves that loop registered as the thread's *running* loop. pytest-asyncio cannot run a coroutine while that is
so, and Playwright refuses to start inside a running loop. So browser tests are plain sync tests that talk to the
server through sync helpers (`tests.procutil.http`, the page itself), the parent conftest's async autouse loop
guard is replaced here by a sync no-op (the server runs in another process, under the same guard: see
`tests/e2e/guarded_server.py` and `e2e_server`), and the browser is package-scoped: Playwright stops, and the
thread has no running loop again, as soon as the last test in tests/e2e is done, before any async test of a
whole-suite run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Page,
        Request,
        Response,
        expect,
        sync_playwright,
    )
except ImportError as exc:  # pragma: no cover - playwright is in the test extra
    raise ImportError("the browser tests need Playwright: pip install -e '.[test]'") from exc

from tests.e2e.guarded_server import MARK as LOOP_BLOCKED
from tests.procutil import ROOT, Server, free_port, http, server_env

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
TIMEOUT_MS = 10_000
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# Slow enough that a test can press Stop while a reply is still streaming; a module changes it with
# `pytestmark = pytest.mark.e2e_server(offline_tokens_per_s=5)` (any Settings field, as CHATSVC_<NAME>).
SERVER_SETTINGS = {"offline_tokens_per_s": "40"}
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e_server(**settings): CHATSVC_* settings of this module's server")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Remember each phase's outcome, so that `new_page` can screenshot the pages of a failed test."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(autouse=True)
def loop_must_not_block() -> None:
    """Replace the parent's async loop guard: a browser test must not run with an asyncio loop of its own."""


# --- the server -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def e2e_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Run `python run.py serve` for this test module; afterwards fail on slow loop callbacks or tracebacks.

    Tests share the server, not data: each one registers its own users under unique names.
    """
    settings = dict(SERVER_SETTINGS)
    marker = request.node.get_closest_marker("e2e_server")
    if marker:
        settings.update({name: str(value) for name, value in marker.kwargs.items()})
    # No asyncio debug mode in the server: its bookkeeping would dominate the loop guard's CPU figures.
    env = server_env(PYTHONASYNCIODEBUG="", **{f"CHATSVC_{name.upper()}": value for name, value in settings.items()})
    # The CPU check stays at 50 ms; the wall-clock wait check is 1 s here (200 ms in-process): next to Chromium on a
    # loaded 2-core machine this server's loop thread showed unattributed 200-400 ms waits after database
    # round trips (2 ms CPU, no preemption, paging or storage stall seen) in about one loaded run in three.
    env["CHATSVC_BLOCKING_WAIT_MS"] = "1000"
    with running_server_logged(tmp_path_factory.mktemp("e2e-server"), env) as server:
        yield server
    problems = server_log_problems(server.output)
    if server.proc.returncode != 0:
        problems.append(f"the server exited with code {server.proc.returncode} after SIGINT")
    if problems:
        pytest.fail("the server logged problems:\n\n" + "\n\n".join(problems), pytrace=False)


@contextlib.contextmanager
def running_server_logged(workdir: Path, env: dict[str, str], timeout: float = 30) -> Iterator[Server]:
    """Start the server with its output in workdir/server.log (a pipe nobody reads could fill up and stall it)."""
    port = free_port()
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.guarded_server", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(workdir / "data")],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", workdir / "data")
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(server.base):
            if proc.poll() is not None:
                pytest.fail(f"the server exited early:\n{log_path.read_text()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not become healthy in {timeout} s:\n{log_path.read_text()}",
                            pytrace=False)
            time.sleep(0.05)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        server.output = log_path.read_text()


def _healthy(base: str) -> bool:
    try:
        return http("GET", f"{base}/healthz")[0] == 200
    except (urllib.error.URLError, ConnectionError):
        return False


def server_log_problems(log: str) -> list[str]:
    """Return the loop callbacks the guard reported as blocking, and each traceback or request error."""
    problems: list[str] = []
    lines = log.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(LOOP_BLOCKED):
            problems.append(line)
        elif "Error handling request" in line or "Traceback (most recent call last)" in line:
            # The block goes on through the indented frames and chained tracebacks to the exception's own line.
            end = i + 1
            while end < len(lines) and (lines[end][:1] in ("", " ") or lines[end].startswith(
                    ("Traceback", "During handling", "The above exception"))):
                end += 1
            problems.append("\n".join(lines[i:end + 1]))
            i = end
        i += 1
    return problems


# --- the browser ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Return the Chromium to drive: $CHATSVC_CHROMIUM, else the first of chromium, chromium-browser, google-chrome."""
    configured = os.environ.get("CHATSVC_CHROMIUM")
    names = (configured,) if configured else CHROMIUM_NAMES
    found = next((path for path in map(shutil.which, names) if path), None)
    if not found:
        where = f"CHATSVC_CHROMIUM={configured} is not an executable" if configured else \
            f"none of {', '.join(CHROMIUM_NAMES)} is on PATH"
        pytest.fail(f"the browser tests need Chromium ({where}). Run `bash scripts/test.sh`, which installs it, "
                    "or install it yourself (Debian/Ubuntu: sudo apt-get install chromium) or set "
                    "CHATSVC_CHROMIUM=/path/to/chrome.", pytrace=False)
    return found


@contextlib.contextmanager
def _asyncio_debug_off() -> Iterator[None]:
    # The parent conftest turns on asyncio debug mode for the whole process. Playwright's private loop would
    # inherit it, run slower, and log every pause of the test code between two sync calls as a slow callback.
    saved = os.environ.pop("PYTHONASYNCIODEBUG", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PYTHONASYNCIODEBUG"] = saved


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Browser]:
    """Launch headless Chromium once for all browser tests (package scope: see the module docstring)."""
    for old in SCREENSHOTS.glob("failed-*.png"):  # failures of earlier runs would mislead a reviewer
        old.unlink()
    with _asyncio_debug_off():
        playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    except BaseException:
        playwright.stop()
        raise
    expect.set_options(timeout=TIMEOUT_MS)
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@dataclass
class PageErrors:
    """What went wrong in a test's pages: console errors, uncaught exceptions, failed requests, 5xx answers.

    Each is a failure unless the test declared it with `expect(regex)`; Chromium logs a fetch that got a 4xx
    as a console error ("Failed to load resource: the server responded with a status of 401 ..."), so a test
    that provokes one on purpose says `page_errors.expect("status of 401")`.
    """

    seen: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def expect(self, pattern: str) -> None:
        """Allow errors matching this regular expression in this test (allowed, not required)."""
        self.allowed.append(re.compile(pattern))

    def watch(self, context: BrowserContext) -> None:
        """Record the errors of every page of this browser context."""
        context.on("console", self._console)
        context.on("weberror", lambda err: self.seen.append(f"uncaught exception: {err.error.stack or err.error}"))
        context.on("requestfailed", self._request_failed)
        context.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = f"{message.location.get('url')}:{message.location.get('lineNumber')}"
            self.seen.append(f"console error: {message.text} (at {where})")

    def _request_failed(self, request: Request) -> None:
        # ERR_ABORTED is a request the page gave up itself: an aborted fetch (the Stop button), navigating away.
        if request.failure != "net::ERR_ABORTED":
            self.seen.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 500:
            self.seen.append(f"server error: {response.status} {response.request.method} {response.url}")

    def unexpected(self) -> list[str]:
        """Return the recorded errors no `expect` pattern allows."""
        return [error for error in self.seen if not any(p.search(error) for p in self.allowed)]


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def new_page(request: pytest.FixtureRequest, browser: Browser, e2e_server: Server,
             page_errors: PageErrors) -> Iterator[Callable[..., Page]]:
    """Return a factory of pages, each in a fresh browser context (its own cookies: one user per context).

    At teardown, screenshot the pages if the test failed, and fail the test on any unexpected page error.
    """
    contexts: list[BrowserContext] = []

    def make(**context_options: Any) -> Page:
        options: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}, "base_url": e2e_server.base}
        context = browser.new_context(**{**options, **context_options})
        context.set_default_timeout(TIMEOUT_MS)
        page_errors.watch(context)
        contexts.append(context)
        return context.new_page()

    yield make
    call = request.node.stash.get(PHASE_REPORTS, {}).get("call")
    if call is not None and call.failed:
        stem = "failed-" + re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        for n, page in enumerate(page for context in contexts for page in context.pages):
            save_screenshot(page, f"{stem}-{n}")
    errors = page_errors.unexpected()
    for context in contexts:
        context.close()
    if errors:
        pytest.fail("the browser reported errors (declare expected ones with page_errors.expect(regex)):\n"
                    + "\n".join(errors), pytrace=False)


def save_screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG as test-artifacts/screenshots/<name>.png and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


@pytest.fixture
def shot() -> Callable[[Page, str], Path]:
    """Return `shot(page, name)`, which saves a full-page screenshot into test-artifacts/screenshots/."""
    return save_screenshot
