"""Run the benchmark suite as a script: `python bench/run.py [--quick]` (same as `python -m bench`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.__main__ import main  # noqa: E402 - after the path is set

if __name__ == "__main__":
    sys.exit(main())
