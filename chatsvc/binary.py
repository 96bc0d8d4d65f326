"""Build dist/chatsvc: a self-contained executable (PyInstaller one-file) that needs no Python on the target.

`python -m chatsvc.binary [--output PATH] [-- PYINSTALLER_ARGS...]`, then `./chatsvc` works like `python run.py`
(same commands, flags and exit codes). Offline: it bundles the checkout and the packages installed in this
environment, and downloads nothing at build or run time. The file is specific to the platform it was built on
(e.g. Linux x86_64, and a glibc at least as new as the build machine's). See README.md, "Single-file build".

What import analysis cannot see is named here: the browser client and Alembic's migration scripts (read as files),
and the modules that are imported by name (the agent workers' preload list, langchain's lazy attribute imports).
Agent workers are processes started from the executable itself: run.py calls multiprocessing.freeze_support().
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from chatsvc.build import copy_source, source_root

NAME = "chatsvc"
ENTRY_SCRIPT = "run.py"  # calls multiprocessing.freeze_support(), then chatsvc.cli:main
# Folders read as files at run time (importlib.resources / Alembic's script_location), copied as they are.
DATA_DIRS = ("static", "storage/migrations")
# Packages whose modules are (partly) imported by name: take every submodule, not only those imports reach.
COLLECT_SUBMODULES = ("chatsvc", "handlers", "storage", "agent", "langchain_core", "langgraph", "langchain_openai")
# Installed here for tests, linting or benchmarks, never imported by the server: keeps the analysis short and the
# file small should anything reach for them optionally. zstandard (24 MB unpacked on every start) is an optional
# import of httpx and langsmith's trace upload, neither of which the server uses compressed.
EXCLUDES = ("tests", "bench", "pytest", "_pytest", "playwright", "mypy", "hypothesis", "schemathesis", "fastapi",
            "uvicorn", "shiv", "PyInstaller", "tkinter", "IPython", "matplotlib", "numpy", "pandas", "torch",
            "zstandard")


def data_files(root: Path) -> Iterator[tuple[Path, str]]:
    """Yield (file, folder inside the bundle) for each file of DATA_DIRS, without caches or dot-files.

    Migration scripts are data too: Alembic loads env.py and versions/*.py from their folder, not by import.
    """
    for top in DATA_DIRS:
        for path in sorted((root / top).rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and "__pycache__" not in rel.parts and not path.name.startswith(".") \
                    and path.suffix != ".pyc":
                yield path, rel.parent.as_posix()


def pyinstaller_command(root: Path, dist: Path, work: Path, extra: Sequence[str] = ()) -> list[str]:
    """The PyInstaller command line for a one-file build of root's run.py into dist/chatsvc."""
    cmd = [sys.executable, "-m", "PyInstaller", "--onefile", "--name", NAME, "--noconfirm",
           "--log-level", "WARN", "--distpath", str(dist), "--workpath", str(work / "build"),
           "--specpath", str(work), "--paths", str(root)]
    for path, dest in data_files(root):
        cmd += ["--add-data", f"{path}{os.pathsep}{dest}"]
    for package in COLLECT_SUBMODULES:
        cmd += ["--collect-submodules", package]
    for module in EXCLUDES:
        cmd += ["--exclude-module", module]
    if shutil.which("strip"):  # binutils: debug symbols are most of the compiled modules' size, unpacked each start
        cmd.append("--strip")
    return [*cmd, *extra, str(root / ENTRY_SCRIPT)]


def build(output: Path, root: Path, extra: Sequence[str] = ()) -> None:
    """Build the executable at output from a copy of root; PyInstaller's work files stay in a temporary folder.

    The copy is a snapshot: the analysis reads the tree for minutes, and a checkout edited meanwhile would give
    a binary with, say, a model from after an edit and the migrations from before it. PyInstaller finds our
    packages through --paths (the copy), not through the editable install's finder.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chatsvc-binary-") as tmp:
        src = copy_source(root, Path(tmp) / "src")
        dist = Path(tmp) / "dist"
        # Run from the temporary folder: nothing lands in the caller's cwd or the checkout.
        subprocess.run(pyinstaller_command(src, dist, Path(tmp), extra), cwd=tmp, check=True)
        shutil.move(dist / NAME, output)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatsvc.binary", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="the file to write (<checkout>/dist/chatsvc)")
    parser.add_argument("--source", type=Path, help="the checkout to build (the one chatsvc is imported from)")
    parser.add_argument("pyinstaller_args", nargs="*", help="after --, extra PyInstaller arguments")
    args = parser.parse_args(argv)
    root = (args.source or source_root()).resolve()
    if not (root / "setup.cfg").exists():
        print(f"error: {root} is not a chatsvc checkout (no setup.cfg); pass --source", file=sys.stderr)
        return 2
    if importlib.util.find_spec("PyInstaller") is None:
        print("error: PyInstaller is not installed: pip install -e '.[build]'", file=sys.stderr)
        return 2
    output = (args.output or root / "dist" / NAME).resolve()
    started = time.monotonic()
    try:
        build(output, root, args.pyinstaller_args)
    except subprocess.CalledProcessError as exc:
        print(f"error: PyInstaller failed (exit {exc.returncode}); see its output above", file=sys.stderr)
        return 1
    size = output.stat().st_size
    print(f"built {output} ({size / 1e6:.1f} MB) in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
