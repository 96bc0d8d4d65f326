"""Spool files: how big inputs and results travel between the server and the agent workers.

The worker pipe carries JSON frames that the server encodes and decodes on its event loop, which is
fine for token batches and tool calls but not for a 2 MiB document, 25 000 requirements or a 50 MB
test-case artifact (hundreds of ms of loop time). Such payloads go through files in a spool directory
instead: the job message names the paths, the worker reads and writes them in its own process, and the
server only moves the files' text between them and the database in threads (bounded copies, never
Python objects built or walked on the loop). What the server must turn into Python objects itself, it
decodes in slices of a few hundred items between which the loop runs (`json_lines`), what it must encode,
it encodes the same way (`encode_array`), and it frees big lists the same way too (`release`).

Files are UTF-8 with newlines kept as they are (`newline=""`), so a document's text arrives unchanged.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

SLICE_ITEMS = 500  # dicts encoded or decoded per loop slice (~1 ms for a requirement)
WRITE_CHARS = 1 << 20  # a big text is written in pieces so that no single copy holds the GIL for long


def dumps(value: Any) -> str:
    """The JSON text of a value as spooled and stored (compact; ASCII, so any text survives any file)."""
    return json.dumps(value, separators=(",", ":"))


def write_text(path: str, pieces: Iterable[str], *, append: bool = False) -> None:
    """Write (or append) text pieces to a file, a big piece in slices (blocking: call it in a thread)."""
    with open(path, "a" if append else "w", encoding="utf-8", newline="") as fh:
        for piece in pieces:
            for start in range(0, len(piece), WRITE_CHARS):
                fh.write(piece[start:start + WRITE_CHARS])


def read_text(path: str) -> str:
    """Read a spooled file's text (blocking: call it in a thread)."""
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.read()


def write_lines(path: str, values: Sequence[Any], per_line: int) -> None:
    """Write `values` as JSON lines of at most `per_line` items each (blocking)."""
    write_text(path, (dumps(list(values[i:i + per_line])) + "\n" for i in range(0, len(values), per_line)))


class Spool:
    """A private directory of spool files shared by the server and its workers, removed on close."""

    def __init__(self) -> None:
        self._dir: str | None = None
        self._names = itertools.count(1)

    def path(self, stem: str) -> str:
        """A new, unused file path (the directory is created on first use)."""
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="chatsvc-spool-")
        return os.path.join(self._dir, f"{stem}-{next(self._names)}-{secrets.token_hex(4)}.json")

    async def write(self, path: str, pieces: list[str], *, append: bool = False) -> None:
        await asyncio.to_thread(write_text, path, pieces, append=append)

    async def read(self, path: str) -> str:
        return await asyncio.to_thread(read_text, path)

    async def write_bytes(self, path: str, data: bytes) -> None:
        await asyncio.to_thread(_write_bytes, path, data)

    async def discard(self, *paths: str) -> None:
        """Remove spool files (missing ones are fine)."""
        await asyncio.to_thread(_unlink, paths)

    async def close(self) -> None:
        if self._dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._dir, True)
            self._dir = None


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def _unlink(paths: Iterable[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


async def encode_array(items: Sequence[Any]) -> list[str]:
    """JSON text of a list as pieces to write one after the other, encoded in slices between which the loop runs."""
    pieces = ["["]
    for start in range(0, len(items), SLICE_ITEMS):
        if start:
            pieces.append(",")
            await asyncio.sleep(0)
        pieces.append(dumps(list(items[start:start + SLICE_ITEMS]))[1:-1])
    pieces.append("]")
    return pieces


async def release(items: list[Any]) -> None:
    """Empty a big list a slice at a time: freeing 25 000 dicts at once would hold the loop for 5-10 ms."""
    while items:
        del items[-SLICE_ITEMS:]
        if items:
            await asyncio.sleep(0)


async def json_lines(text: str) -> AsyncIterator[list[Any]]:
    """The lists of a file of JSON lines (see write_lines), decoded one line per loop slice (found one at a
    time: splitting tens of MB at once would itself hold the loop)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        if end > start:
            if start:
                await asyncio.sleep(0)
            batch: list[Any] = json.loads(text[start:end])
            yield batch
        start = end + 1
