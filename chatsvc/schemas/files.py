"""Uploaded files: the JSON they answer, and the rules that make a client's filename and type harmless.

A client's filename is metadata only (blobs are stored under their SHA-256): it is cut to its last path
component, cleaned of control characters and limited to 255 bytes. A client's content type is kept only
when it is on a short allowlist of types a browser will not run; anything else (text/html, SVG, XML,
JavaScript, ...) is stored and served as application/octet-stream.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import unicodedata
from urllib.parse import quote

from pydantic import Field

from chatsvc.schemas.common import ORM

MAX_FILENAME_BYTES = 255
FALLBACK_NAME = "file"
OCTET_STREAM = "application/octet-stream"

# Types served as themselves: none of them runs script in a browser (and downloads are attachments anyway).
SAFE_TYPES: dict[str, tuple[str, ...]] = {
    "text/plain": (".txt", ".log", ".text"),
    "text/markdown": (".md", ".markdown"),
    "text/csv": (".csv",),
    "application/json": (".json",),
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "application/zip": (".zip",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
}
_BY_EXTENSION = {ext: ctype for ctype, exts in SAFE_TYPES.items() for ext in exts}
# Invisible characters that reorder or hide text: a name like "invoice\u202efdp.exe" must not fool anyone.
_BIDI = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_DRIVE = re.compile(r"^[A-Za-z]:")


class FileOut(ORM):
    id: str
    project_id: str
    filename: str = Field(description="sanitised client filename; metadata only")
    content_type: str = Field(description="an allowlisted type, else application/octet-stream")
    size: int
    sha256: str
    uploaded_by: str | None
    created_at: dt.datetime
    version: int = Field(1, description="files are immutable, so always 1")


def sanitize_filename(raw: str | None) -> str:
    """Return a display name: last path component, no control characters, at most 255 UTF-8 bytes."""
    name = raw or ""
    name = name.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become U+FFFD
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cs"))
    name = _BIDI.sub("", name)
    name = posixpath.basename(name.replace("\\", "/"))
    name = _DRIVE.sub("", name).strip().rstrip(".").strip()  # "C:x.txt"; Windows ignores trailing dots
    if not name or set(name) <= {"."}:
        return FALLBACK_NAME
    return _limit_bytes(name, MAX_FILENAME_BYTES)


def _limit_bytes(name: str, limit: int) -> str:
    """Shorten a name to `limit` UTF-8 bytes without splitting a character, keeping a short extension."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, ext = posixpath.splitext(name)
    if len(ext.encode("utf-8")) > 16:
        stem, ext = name, ""
    room = limit - len(ext.encode("utf-8"))
    stem = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    return stem + ext


def effective_content_type(client_type: str | None, filename: str) -> str:
    """Keep an allowlisted client type, else guess from the extension, else application/octet-stream."""
    ctype = (client_type or "").split(";", 1)[0].strip().lower()
    if ctype in SAFE_TYPES:
        return ctype
    return _BY_EXTENSION.get(posixpath.splitext(filename)[1].lower(), OCTET_STREAM)


def served_content_type(stored: str) -> str:
    """Return the Content-Type to serve: the stored type when it is allowlisted (re-checked), else octet-stream."""
    return stored if stored in SAFE_TYPES else OCTET_STREAM


def content_disposition(filename: str) -> str:
    """Return an RFC 6266 attachment header with an ASCII fallback and the exact name as filename*."""
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\;%' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback or FALLBACK_NAME}\"; filename*=UTF-8''{quote(filename, safe='')}"
