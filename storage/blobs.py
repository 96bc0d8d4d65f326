"""The file store: content-addressed blobs under <data_dir>/blobs, written to a temp file then renamed."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

_HEX = frozenset("0123456789abcdef")


class BlobStore:
    """Blocking file operations; callers run them in the cpu executor."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"

    def path_for(self, sha256: str) -> Path:
        """Return where a blob lives; the name is a hash we computed, never a client's name."""
        if len(sha256) != 64 or not set(sha256) <= _HEX:
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256

    def open_temp(self) -> tuple[BinaryIO, Path]:
        """Open a new temp file inside the store (same filesystem, so rename is atomic)."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="upload-")
        return os.fdopen(fd, "wb"), Path(name)

    def commit_temp(self, temp: Path, sha256: str) -> Path:
        """fsync and move a finished temp file to its content address (idempotent)."""
        final = self.path_for(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(temp, final)
        return final

    def discard_temp(self, temp: Path) -> None:
        temp.unlink(missing_ok=True)

    def read(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()

    def delete(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)

    def sweep_temp(self, older_than_s: float = 3600.0) -> int:
        """Remove temp files a crash left behind; return how many.

        Only old ones: with several server processes, a young temp file may be another's upload in progress.
        """
        if not self.tmp_dir.exists():
            return 0
        cutoff = time.time() - older_than_s
        removed = 0
        for path in self.tmp_dir.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

