"""FileService: storing and deleting a project's files, end to end; and removing blobs no file row uses.

Viewers read; editors and owners upload and delete (viewer 403, non-member 404, also for a file's id).
The bytes arrive in a temp file of the blob store, hashed, before anything is recorded (the HTTP side
streams them, see handlers/files.py); the service authorizes before a byte is read, then moves the temp
file to its content address and inserts the row in one transaction. A blob is shared by identical
uploads and removed when the last file row using it is deleted (after the deletion committed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz
from chatsvc.errors import NotFound
from chatsvc.events import EventBus, project_topic, publish_resource
from chatsvc.schemas.files import FileOut, effective_content_type
from chatsvc.security import Principal
from storage import files
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import StoredFile

log = logging.getLogger("chatsvc.files")
T = TypeVar("T")


@dataclass(frozen=True)
class StagedUpload:
    """An upload streamed into a temp file of the blob store and hashed; not yet a file of any project."""

    filename: str  # already sanitised: metadata only
    client_type: str | None
    size: int
    sha256: str
    temp: Path


# Streams the request's bytes into a temp file; removes that file itself when it fails.
Receive = Callable[[], Awaitable[StagedUpload]]


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


async def load_file(s: AsyncSession, principal: Principal, file_id: str, need: str = "viewer") -> StoredFile:
    """Load a file and authorize on its project; unknown and hidden files are both 404."""
    row = await files.get(s, file_id)
    if row is None:
        raise NotFound("No such file.")
    try:
        await authz.require_project(s, principal, row.project_id, need=need)
    except NotFound:
        raise NotFound("No such file.") from None
    return row


def _place(blobs: BlobStore, temp: Path, sha256: str) -> bool:
    """Move a temp file to its content address; False when an identical blob was already there (blocking)."""
    if blobs.path_for(sha256).is_file():
        blobs.discard_temp(temp)
        return False
    blobs.commit_temp(temp, sha256)
    return True


class FileService:
    """Files of a project: store an upload, delete a file (its blob goes when no other file uses it)."""

    def __init__(self, *, db: Database, bus: EventBus, blobs: BlobStore, cpu: Executor) -> None:
        self.db = db
        self.bus = bus
        self.blobs = blobs
        self.cpu = cpu

    async def upload(self, principal: Principal, project_id: str, receive: Receive) -> FileOut:
        """Store an upload in a project (editor): authorize, let `receive` stage the bytes, record and place them.

        The first check spares a non-member's upload from being read at all; the one in the write
        transaction catches a membership lost while the bytes were arriving.
        """
        async with self.db.read() as s:
            await authz.require_project(s, principal, project_id, need="editor")
        staged = await receive()
        placed = False
        try:
            async with self.db.write() as s:
                await authz.require_project(s, principal, project_id, need="editor")
                await files.lock_blob(s, staged.sha256)  # a concurrent delete cannot remove the blob we reuse
                row = await files.create(
                    s, project_id=project_id, filename=staged.filename, size=staged.size, sha256=staged.sha256,
                    content_type=effective_content_type(staged.client_type, staged.filename),
                    uploaded_by=principal.user_id,
                )
                placed = await self._run(_place, self.blobs, staged.temp, staged.sha256)
                out = FileOut.model_validate(row)
        except BaseException:
            await self._run(self.blobs.discard_temp, staged.temp)
            if placed:  # the row never committed: the blob we placed may be nobody's
                await collect_blobs(self.db, self.blobs, self.cpu, [staged.sha256])
            raise
        self._publish(principal, "created", out)
        return out

    async def delete(self, principal: Principal, file_id: str) -> None:
        """Delete a file (editor); its blob goes when no other file has the same bytes."""
        async with self.db.write() as s:
            row = await load_file(s, principal, file_id, need="editor")
            out = FileOut.model_validate(row)
            await files.delete(s, row)
        self._publish(principal, "deleted", out)
        await collect_blobs(self.db, self.blobs, self.cpu, [out.sha256])

    def _publish(self, principal: Principal, action: str, out: FileOut) -> None:
        publish_resource(self.bus, [project_topic(out.project_id)], "file", action, out.model_dump(mode="json"),
                         principal.user_id)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking file work in the cpu executor."""
        return await asyncio.get_running_loop().run_in_executor(self.cpu, fn, *args)
