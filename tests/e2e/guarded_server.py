"""`python -m tests.e2e.guarded_server serve …`: the real server (`run.py`'s entry point) under the test suite's
loop guard. Each loop callback that blocked the loop is printed as a `LOOP BLOCKED:` line, which the browser
tests' server fixture turns into a failure (CPU-based, so a busy machine does not make it flaky)."""

from __future__ import annotations

import sys

from tests import loopguard

MARK = "LOOP BLOCKED:"


def main() -> int:
    loopguard.install(report=lambda what: print(f"{MARK} {what}", file=sys.stderr, flush=True))
    from chatsvc.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
