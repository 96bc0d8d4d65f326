"""Project files: upload (multipart, streamed), list, read metadata, download, delete.

Commands are FileService calls (chatsvc/services/files.py says who may do what and how blobs are kept);
reads stay here, and so does the HTTP side of an upload: the multipart body is streamed part by part into a
temp file in the blob store, counting bytes and hashing as it goes, all file work in the cpu executor; past
`max_upload_bytes` it stops with a 413 and leaves nothing behind. Downloads are always attachments, with
nosniff and a sandboxing CSP, and a content type from a short allowlist.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import unquote

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import parse_content_disposition
from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz, keys
from chatsvc.errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from chatsvc.schemas import Page, PageQuery, page_of
from chatsvc.schemas.files import (
    OCTET_STREAM,
    SAFE_TYPES,
    FileOut,
    content_disposition,
    sanitize_filename,
    served_content_type,
)
from chatsvc.services.files import FileService, StagedUpload, load_file
from chatsvc.views import FileResponse, ProjectScopedView, endpoint
from storage import files
from storage.blobs import BlobStore
from storage.models import StoredFile

log = logging.getLogger("chatsvc.files")
T = TypeVar("T")

CHUNK = 256 * 1024
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file's bytes
MAX_PARTS = 20


def _write(fh: IO[bytes], digest: Any, chunk: bytes) -> None:
    fh.write(chunk)
    digest.update(chunk)


def _discard(blobs: BlobStore, fh: IO[bytes], temp: Path) -> None:
    fh.close()
    blobs.discard_temp(temp)


async def _run(app: web.Application, fn: Callable[..., T], *args: Any) -> T:
    """Run blocking file work in the shared cpu executor."""
    return await asyncio.get_running_loop().run_in_executor(app[keys.CPU_EXECUTOR], fn, *args)


async def receive_upload(request: web.Request) -> StagedUpload:
    """Stream the multipart field `file` into a temp blob: 415 unless multipart, 422 without it, 413 past the limit,
    400 when any part (before or after the file) cannot be read; a refused upload leaves no temp file."""
    app = request.app
    limit = app[keys.SETTINGS].max_upload_bytes
    too_large = PayloadTooLarge(f"The file may be at most {limit} bytes.")
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("Send the file as multipart/form-data in the field 'file'.")
    if request.content_length is not None and request.content_length > limit + MULTIPART_SLACK:
        raise too_large
    staged: StagedUpload | None = None
    try:
        reader = await request.multipart()
        skipped = 0
        for _ in range(MAX_PARTS):
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise BadRequest("Nested multipart bodies are not accepted.")
            if part.name == "file" and staged is None:
                staged = await _stream_part(app, part, limit, too_large)
                continue
            # Another field: skip it, but count it. The parts after the file are read too, so a malformed
            # part is a 400 wherever it stands (the OpenAPI document says which field names can be sent).
            while chunk := await part.read_chunk(CHUNK):
                skipped += len(chunk)
                if skipped > limit:
                    raise too_large
    except BaseException as exc:
        if staged is not None:
            await _run(app, app[keys.BLOBS].discard_temp, staged.temp)
        if isinstance(exc, ValueError | RuntimeError | AssertionError | HttpProcessingError):
            raise BadRequest(f"The multipart body could not be read: {exc}.") from None
        raise
    if staged is None:
        raise ValidationFailed.field(["body", "file"], "Field required: send the file in the multipart field 'file'.")
    return staged


async def _stream_part(app: web.Application, part: BodyPartReader, limit: int,
                       too_large: PayloadTooLarge) -> StagedUpload:
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
    return StagedUpload(filename, part.headers.get("Content-Type"), size, digest.hexdigest(), temp)


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

    @property
    def files(self) -> FileService:
        return self.app[keys.SERVICES].files

    async def load_file(self, s: AsyncSession) -> StoredFile:
        """Load the file in the path and authorize (viewer) on its project; unknown and hidden are both 404."""
        return await load_file(s, self.principal, self.ident())


class ProjectFilesView(FileScopedView):
    path = "/projects/{id}/files"

    @endpoint("Upload a file (editor)", multipart=True, response=FileOut, status=201,
              errors=(400, 403, 404, 413, 415, 422),
              description="multipart/form-data with the file in the field `file`. The filename is cut to its "
                          "last path component and cleaned; a content type off the allowlist becomes "
                          "application/octet-stream. Larger than the server's upload limit: 413.")
    async def post(self) -> FileOut:
        # The service authorizes before it calls receive_upload: a refused caller's body is never read.
        return await self.files.upload(self.principal, self.ident(), lambda: receive_upload(self.request))

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
        await self.files.delete(self.principal, self.ident())


class FileContentView(FileScopedView):
    path = "/files/{id}/content"

    @endpoint("Download a file's content (always as an attachment)", produces=(*SAFE_TYPES, OCTET_STREAM),
              errors=(404,), description="Served as its allowlisted content type, else application/octet-stream. "
                                         "Content-Disposition: attachment with an RFC 6266 filename*; "
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
