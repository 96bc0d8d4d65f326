"""Build chatsvc.pyz: one file holding chatsvc, the browser client and every runtime dependency (a shiv zipapp).

`python -m chatsvc.build [--output PATH] [-- PIP_ARGS...]`, then `python chatsvc.pyz` works like `python run.py`
(same commands, flags and exit codes). The file is specific to the Python minor version and platform it was built
on. See README.md, "Single-file build".
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ENTRY_POINT = "chatsvc.cli:main"  # what run.py calls
# Top-level entries of a checkout that are not the product, or are stale build state (build/lib keeps deleted files).
SKIP_TOP = {"build", "dist", "data", "tests", "bench", "test-artifacts", "node_modules"}


def source_root() -> Path:
    """Return the checkout this chatsvc is imported from (installs are editable), whatever the cwd."""
    return Path(__file__).resolve().parent.parent


def copy_source(root: Path, dest: Path) -> Path:
    """Copy the checkout without caches, build state or dot-folders, for setuptools to build from.

    Building in place would write into a checkout others work in, and reuse its build/ folder.
    """
    def ignore(directory: str, names: list[str]) -> set[str]:
        top = Path(directory) == root
        return {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyz"))
                or (top and (n.startswith(".") or n in SKIP_TOP or n.endswith(".egg-info")))}

    shutil.copytree(root, dest, ignore=ignore)
    return dest


def installed_pins() -> str:
    """Pin every installed distribution, so the pyz holds the versions this environment runs (and tested)."""
    pins = {f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()
            if d.metadata["Name"] and d.metadata["Name"].lower() != "chatsvc"}
    return "\n".join(sorted(pins)) + "\n"


def build(output: Path, root: Path, pin: bool = True, pip_args: Sequence[str] = ()) -> None:
    """Build the zipapp at output with shiv: the project at root plus its runtime dependencies (no extras)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chatsvc-build-") as tmp:
        src = copy_source(root, Path(tmp) / "src")
        pins = Path(tmp) / "pins.txt"
        pins.write_text(installed_pins() if pin else "")
        cmd = [
            sys.executable, "-m", "shiv",
            "--entry-point", ENTRY_POINT,
            "--output-file", str(output),
            # The wheels inside are for this interpreter's ABI, so ask for the same minor version when run as ./x.pyz.
            "--python", f"/usr/bin/env python{sys.version_info.major}.{sys.version_info.minor}",
            "--compressed", "--reproducible",
            # The rest goes to `pip install --target`. --no-compile: shiv's extraction does not keep mtimes, so
            # pip's .pyc files would be stale anyway; Python writes fresh ones into the extracted folder.
            str(src), "--constraint", str(pins), "--no-compile", *pip_args,
        ]
        subprocess.run(cmd, check=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatsvc.build", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="the file to write (<checkout>/dist/chatsvc.pyz)")
    parser.add_argument("--source", type=Path, help="the checkout to build (the one chatsvc is imported from)")
    parser.add_argument("--no-pin", action="store_true",
                        help="let pip pick the newest allowed versions instead of the installed ones")
    parser.add_argument("pip_args", nargs="*",
                        help="after --, extra pip arguments, e.g. -- --no-index --find-links wheels/")
    args = parser.parse_args(argv)
    root = (args.source or source_root()).resolve()
    if not (root / "setup.cfg").exists():
        print(f"error: {root} is not a chatsvc checkout (no setup.cfg); pass --source", file=sys.stderr)
        return 2
    if importlib.util.find_spec("shiv") is None:
        print("error: shiv is not installed: pip install -e '.[build]'", file=sys.stderr)
        return 2
    output = (args.output or root / "dist" / "chatsvc.pyz").resolve()
    started = time.monotonic()
    try:
        build(output, root, pin=not args.no_pin, pip_args=args.pip_args)
    except subprocess.CalledProcessError as exc:
        print(f"error: shiv failed (exit {exc.returncode}); see its output above", file=sys.stderr)
        return 1
    size = output.stat().st_size
    print(f"built {output} ({size / 1e6:.1f} MB) in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
