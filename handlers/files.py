"""Project files: upload (multipart, streamed), list, read metadata, download, delete.

Viewers read; editors and owners upload and delete. An upload is streamed part by part into a temp file
in the blob store, counting bytes and hashing as it goes, all file work in the cpu executor; past
`max_upload_bytes` it stops with a 413 and leaves nothing behind. The blob is stored under its SHA-256
(shared by identical uploads) and removed when the last file row using it is deleted. Downloads are
always attachments, with nosniff and a sandboxing CSP, and a content type from a short allowlist.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import unquote

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import parse_content_disposition
from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz, keys
from chatsvc.errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from chatsvc.events import project_topic
from chatsvc.schemas import Page, PageQuery, page_of
from chatsvc.schemas.files import (
    FileOut,
    content_disposition,
    effective_content_type,
    sanitize_filename,
    served_content_type,
)
from chatsvc.services.files import collect_blobs
from chatsvc.views import FileResponse, ProjectScopedView, endpoint
from storage import files
from storage.blobs import BlobStore
from storage.models import StoredFile

log = logging.getLogger("chatsvc.files")
T = TypeVar("T")

CHUNK = 256 * 1024
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file's bytes
MAX_PARTS = 20


@dataclass
class Received:
    """An upload streamed into a temp file of the blob store."""

    filename: str
    client_type: str | None
    size: int
    sha256: str
    temp: Path


def _write(fh: IO[bytes], digest: Any, chunk: bytes) -> None:
    fh.write(chunk)
    digest.update(chunk)


def _discard(blobs: BlobStore, fh: IO[bytes], temp: Path) -> None:
    fh.close()
    blobs.discard_temp(temp)


def _place(blobs: BlobStore, temp: Path, sha256: str) -> bool:
    """Move a temp file to its content address; False when an identical blob was already there."""
    if blobs.path_for(sha256).is_file():
        blobs.discard_temp(temp)
        return False
    blobs.commit_temp(temp, sha256)
    return True


async def _run(app: web.Application, fn: Callable[..., T], *args: Any) -> T:
    """Run blocking file work in the shared cpu executor."""
    return await asyncio.get_running_loop().run_in_executor(app[keys.CPU_EXECUTOR], fn, *args)


async def receive_upload(request: web.Request) -> Received:
    """Stream the multipart field `file` into a temp blob: 415 unless multipart, 422 without it, 413 past the limit."""
    app = request.app
    limit = app[keys.SETTINGS].max_upload_bytes
    too_large = PayloadTooLarge(f"The file may be at most {limit} bytes.")
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("Send the file as multipart/form-data in the field 'file'.")
    if request.content_length is not None and request.content_length > limit + MULTIPART_SLACK:
        raise too_large
    try:
        reader = await request.multipart()
        skipped = 0
        for _ in range(MAX_PARTS):
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise BadRequest("Nested multipart bodies are not accepted.")
            if part.name == "file":
                return await _stream_part(app, part, limit, too_large)
            while chunk := await part.read_chunk(CHUNK):  # another field: skip it, but count it
                skipped += len(chunk)
                if skipped > limit:
                    raise too_large
    except (ValueError, RuntimeError, AssertionError, HttpProcessingError) as exc:
        raise BadRequest(f"The multipart body could not be read: {exc}.") from None
    raise ValidationFailed.field(["body", "file"], "Field required: send the file in the multipart field 'file'.")


async def _stream_part(app: web.Application, part: BodyPartReader, limit: int,
                       too_large: PayloadTooLarge) -> Received:
    blobs = app[keys.BLOBS]
    fh, temp = await _run(app, blobs.open_temp)
    digest = hashlib.sha256()
    size = 0
    try:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > limit:
                raise too_large
            await _run(app, _write, fh, digest, chunk)
        await _run(app, fh.close)
    except BaseException:
        await _run(app, _discard, blobs, fh, temp)
        raise
    filename = sanitize_filename(client_filename(part))
    return Received(filename, part.headers.get("Content-Type"), size, digest.hexdigest(), temp)


def client_filename(part: BodyPartReader) -> str | None:
    """Return the part's filename as the client meant it (before sanitising)."""
    name = part.filename
    _kind, params = parse_content_disposition(part.headers.get(hdrs.CONTENT_DISPOSITION))
    if name is not None and "filename*" not in params and name == params.get("filename"):
        # Browsers (WHATWG) and aiohttp percent-encode the plain `filename`; decoding comes before
        # sanitising, so "..%2F..%2Fetc%2Fpasswd" is cut like "../../etc/passwd".
        name = unquote(name, errors="replace")
    return name


class FileScopedView(ProjectScopedView):
    tag = "files"

    async def load_file(self, s: AsyncSession, need: str = "viewer") -> StoredFile:
        """Load the file in the path and authorize on its project; unknown and hidden files are both 404."""
        row = await files.get(s, self.ident())
        if row is None:
            raise NotFound("No such file.")
        try:
            await authz.require_project(s, self.principal, row.project_id, need=need)
        except NotFound:
            raise NotFound("No such file.") from None
        return row


class ProjectFilesView(FileScopedView):
    path = "/projects/{id}/files"

    @endpoint("Upload a file (editor)", multipart=True, response=FileOut, status=201,
              errors=(400, 403, 404, 413, 415, 422),
              description="multipart/form-data with the file in the field `file`. The filename is cut to its "
                          "last path component and cleaned; a content type off the allowlist becomes "
                          "application/octet-stream. Larger than the server's upload limit: 413.")
    async def post(self) -> FileOut:
        project_id = self.ident()
        async with self.db.read() as s:  # before reading a byte of the body
            await authz.require_project(s, self.principal, project_id, need="editor")
        got = await receive_upload(self.request)
        blobs, placed = self.app[keys.BLOBS], False
        try:
            async with self.db.write() as s:
                await authz.require_project(s, self.principal, project_id, need="editor")
                await files.lock_blob(s, got.sha256)
                row = await files.create(
                    s, project_id=project_id, filename=got.filename, size=got.size, sha256=got.sha256,
                    content_type=effective_content_type(got.client_type, got.filename),
                    uploaded_by=self.principal.user_id,
                )
                placed = await _run(self.app, _place, blobs, got.temp, got.sha256)
                out = FileOut.model_validate(row)
        except BaseException:
            await _run(self.app, blobs.discard_temp, got.temp)
            if placed:
                await collect_blobs(self.app[keys.DB], self.app[keys.BLOBS], self.app[keys.CPU_EXECUTOR], [got.sha256])
            raise
        self.publish([project_topic(project_id)], "file", "created", out.model_dump(mode="json"))
        return out

    @endpoint("List a project's files, newest first", query=PageQuery, response=Page[FileOut], errors=(404,))
    async def get(self, query: PageQuery) -> dict[str, Any]:
        async with self.db.read() as s:
            project_id = self.ident()
            await authz.require_project(s, self.principal, project_id)
            rows, total = await files.list_for_project(s, project_id, limit=query.limit, offset=query.offset)
            return page_of(FileOut, rows, total, query)


class FileView(FileScopedView):
    path = "/files/{id}"

    @endpoint("Read a file's metadata", response=FileOut, errors=(404,))
    async def get(self) -> FileOut:
        async with self.db.read() as s:
            return FileOut.model_validate(await self.load_file(s))

    @endpoint("Delete a file (editor)", status=204, errors=(403, 404),
              description="The stored content goes when no other file has the same bytes.")
    async def delete(self) -> None:
        async with self.db.write() as s:
            row = await self.load_file(s, need="editor")
            out = FileOut.model_validate(row)
            await files.delete(s, row)
        self.publish([project_topic(out.project_id)], "file", "deleted", out.model_dump(mode="json"))
        await collect_blobs(self.app[keys.DB], self.app[keys.BLOBS], self.app[keys.CPU_EXECUTOR], [out.sha256])


class FileContentView(FileScopedView):
    path = "/files/{id}/content"

    @endpoint("Download a file's content (always as an attachment)", produces="application/octet-stream",
              errors=(404,), description="Content-Disposition: attachment with an RFC 6266 filename*; "
                                         "X-Content-Type-Options: nosniff; Content-Security-Policy: sandbox.")
    async def get(self) -> web.StreamResponse:
        async with self.db.read() as s:
            row = await self.load_file(s)
        path = self.app[keys.BLOBS].path_for(row.sha256)
        if not await _run(self.app, path.is_file):
            log.error("blob %s of file %s is missing", row.sha256, row.id)
            raise NotFound("The file's content is missing.")
        return FileResponse(path, chunk_size=CHUNK, headers={
            "Content-Type": served_content_type(row.content_type),
            "Content-Disposition": content_disposition(row.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        })


VIEWS = [ProjectFilesView, FileView, FileContentView]
