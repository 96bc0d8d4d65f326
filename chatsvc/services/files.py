"""Files: removing blobs that no file row uses any more (after deletes of files or whole projects)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from concurrent.futures import Executor

from storage import files
from storage.blobs import BlobStore
from storage.db import Database

log = logging.getLogger("chatsvc.files")


async def collect_blobs(db: Database, blobs: BlobStore, executor: Executor, digests: Iterable[str]) -> None:
    """Remove the blobs no file row uses any more; call after the rows' deletion committed."""
    wanted = sorted(set(digests))  # one order everywhere: the advisory locks cannot deadlock
    if not wanted:
        return
    loop = asyncio.get_running_loop()
    try:
        async with db.write() as s:
            for sha256 in wanted:
                await files.lock_blob(s, sha256)
                if await files.references(s, sha256) == 0:
                    await loop.run_in_executor(executor, blobs.delete, sha256)
    except Exception:  # the rows are gone already; a left-over blob is only wasted space
        log.exception("removing unused blobs failed")
