"""The suite's hang guard (tests/hangguard.py): a hung test fails with a traceback, and a hung teardown ends
the run with every thread's stack, instead of stalling it forever. Each case runs pytest on a tiny test file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.procutil import ROOT

HUNG_TEST = '''
import asyncio

async def test_waits_for_nothing():
    await asyncio.Event().wait()

def test_after_it_still_runs():
    pass
'''

HUNG_TEARDOWN = '''
import asyncio
import pytest

@pytest.fixture
async def deaf_task():
    async def never_stops():
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                pass  # what a lost cancellation looks like from outside
    task = asyncio.get_running_loop().create_task(never_stops())
    yield task
    task.cancel()
    await asyncio.gather(task)

async def test_with_a_task_that_ignores_cancel(deaf_task):
    await asyncio.Event().wait()
'''


def run_pytest(tmp_path: Path, source: str, backstop_s: str = "60") -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "test_hang_case.py"
    test_file.write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.hangguard", "-p", "no:cacheprovider", "-c", os.devnull,
         "--rootdir", str(tmp_path), "-o", "asyncio_mode=auto", "-o", "timeout_method=signal", "--timeout", "2",
         str(test_file)],
        cwd=ROOT, env=os.environ | {"CHATSVC_TEST_HANG_BACKSTOP_S": backstop_s, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=90,
    )


def test_a_hung_test_fails_with_its_task_stacks_and_the_run_goes_on(tmp_path: Path):
    done = run_pytest(tmp_path, HUNG_TEST)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "1 failed, 1 passed" in out
    assert "Timeout (>2.0s)" in out
    assert "test_waits_for_nothing: " in out and "asyncio task(s) of the test's loop at the timeout" in out, out


def test_a_hung_teardown_ends_the_run_with_every_thread_stack(tmp_path: Path):
    done = run_pytest(tmp_path, HUNG_TEARDOWN, backstop_s="3")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "HANG GUARD: " in out and "test_with_a_task_that_ignores_cancel" in out, out
    assert "Timeout" in out and "Stack of MainThread" in out, out
    assert "never_stops" in out  # the stuck task's stack, printed past the output capture
