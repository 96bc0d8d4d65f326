"""Read-side queries for the agent's tools and the background tasks: requirements, test cases, reports.

A document may hold tens of thousands of requirements and an artifact tens of MB, so nothing here builds
ORM objects for them or decodes big JSON on the event loop: requirements come as plain rows turned into
dicts a slice at a time, test-case contents as pieces of their JSON text (for a worker process to decode).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, bindparam, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from storage.models import Artifact, DocumentVersion, Requirement

if TYPE_CHECKING:
    from agent.spool import Spool

REQUIREMENT_FIELDS = ("uid", "title", "statement", "modality", "priority", "section", "fingerprint")
ROWS_PER_SLICE = 1000  # requirement dicts built between two turns of the loop (~1 ms)
TEXT_PIECE = 4 << 20  # characters of a big JSON text read per query (a Python string made in ~2 ms)


@dataclass(frozen=True)
class VersionRef:
    """A document version's identity, without its text (which may be MiBs: a tool call needs none of it)."""

    id: str
    project_id: str
    title: str
    number: int


_VERSION_COLUMNS = (DocumentVersion.id, DocumentVersion.project_id, DocumentVersion.title, DocumentVersion.number)
_VERSION_BY_ID = select(*_VERSION_COLUMNS).where(DocumentVersion.id == bindparam("version_id"))
_CURRENT_VERSION = select(*_VERSION_COLUMNS).where(DocumentVersion.project_id == bindparam("project_id"),
                                                   DocumentVersion.is_current.is_(True))


async def resolve_version(session: AsyncSession, project_id: str, version_id: str | None) -> VersionRef | None:
    """The given version if it belongs to the project, else the project's current version."""
    if version_id:
        row = (await session.execute(_VERSION_BY_ID, {"version_id": version_id})).first()
        return VersionRef(*row) if row is not None and row.project_id == project_id else None
    row = (await session.execute(_CURRENT_VERSION, {"project_id": project_id})).first()
    return VersionRef(*row) if row is not None else None


async def requirement_fingerprint(session: AsyncSession, version_id: str, uid: str) -> str | None:
    """The fingerprint of one requirement of a version, or None when the version has no such uid."""
    return await session.scalar(select(Requirement.fingerprint).where(
        Requirement.document_version_id == version_id, Requirement.uid == uid).limit(1))


async def requirements_of(session: AsyncSession, version_id: str) -> list[dict[str, Any]]:
    """The requirements of a document version as plain dicts, in document order."""
    table = Requirement.__table__  # a Core select: its rows are processed as they are read, a slice at a time
    result = await session.execute(
        select(*(table.c[f] for f in REQUIREMENT_FIELDS))
        .where(table.c.document_version_id == version_id).order_by(table.c.position)
    )
    out: list[dict[str, Any]] = []
    for index, rows in enumerate(result.partitions(ROWS_PER_SLICE)):
        if index:
            await asyncio.sleep(0)  # the rows are in memory already: let the loop run between slices
        out.extend(dict(zip(REQUIREMENT_FIELDS, row, strict=True)) for row in rows)
    return out


async def requirement_uids(session: AsyncSession, version_id: str) -> set[str]:
    """The requirement uids of a document version (all that checking a request's ids needs)."""
    table = Requirement.__table__
    result = await session.execute(select(table.c.uid).where(table.c.document_version_id == version_id))
    uids: set[str] = set()
    for index, rows in enumerate(result.partitions(ROWS_PER_SLICE * 5)):
        if index:
            await asyncio.sleep(0)
        uids.update(row[0] for row in rows)
    return uids


async def test_case_artifacts(session: AsyncSession, project_id: str) -> list[tuple[str, int]]:
    """(id, characters of content JSON text) of every test_cases artifact of the project with content, oldest first
    (for a test-case id in several artifacts the newest wins, so the order matters)."""
    rows = await session.execute(
        select(Artifact.id, func.length(cast(Artifact.content, Text)))
        .where(Artifact.project_id == project_id, Artifact.type == "test_cases")
        .order_by(Artifact.created_at, Artifact.id)
    )
    return [(artifact_id, int(size)) for artifact_id, size in rows if size is not None]


async def spool_test_cases(session: AsyncSession, project_id: str, spool: Spool, paths: list[str]) -> None:
    """Write the content JSON text of each test_cases artifact of the project (oldest first, as
    test_case_artifacts) to a spool file of its own for a worker, appending each path to `paths` as it is
    made (so the caller discards them all, also when this fails half way)."""
    for artifact_id, _size in await test_case_artifacts(session, project_id):
        paths.append(spool.path("cases"))
        await spool.write(paths[-1], await content_pieces(session, artifact_id))


async def test_run_artifacts(session: AsyncSession, project_id: str, version_id: str) -> list[str]:
    """Ids of the project's test_run artifacts for this document version or for none, oldest first (a later
    run's result for a test case replaces an earlier one)."""
    rows = await session.scalars(
        select(Artifact.id).where(Artifact.project_id == project_id, Artifact.type == "test_run",
                                  (Artifact.document_version_id == version_id)
                                  | Artifact.document_version_id.is_(None))
        .order_by(Artifact.created_at, Artifact.id))
    return list(rows)


async def content_pieces(session: AsyncSession, artifact_id: str) -> list[str]:
    """An artifact's content JSON text (to decode off the loop) in pieces of at most TEXT_PIECE characters.

    One query per piece: read at once, a 50 MB text holds the GIL for 50-150 ms in the driver's thread while
    it becomes one Python string, and the loop cannot run meanwhile.
    """
    text = cast(Artifact.content, Text)
    pieces: list[str] = []
    while True:
        piece = await session.scalar(select(func.substr(text, len(pieces) * TEXT_PIECE + 1, TEXT_PIECE))
                                     .where(Artifact.id == artifact_id))
        if piece:
            pieces.append(piece)
        if not piece or len(piece) < TEXT_PIECE:
            return pieces


async def latest_artifact_id(session: AsyncSession, project_id: str, type_: str,
                             version_id: str | None = None) -> str | None:
    """The id of the project's newest artifact of a type (of a document version, when given), or None; its
    content, which may be tens of MB, is for `content_pieces`."""
    cond = (Artifact.project_id == project_id) & (Artifact.type == type_)
    if version_id:
        cond = cond & (Artifact.document_version_id == version_id)
    found: str | None = await session.scalar(select(Artifact.id).where(cond).order_by(
        Artifact.created_at.desc(), Artifact.id.desc()).limit(1))
    return found


async def recent_artifacts(session: AsyncSession, project_id: str, type_: str | None, limit: int) -> list[Artifact]:
    """The newest artifacts of a project, without their content (which may be tens of MB)."""
    cond = Artifact.project_id == project_id
    if type_:
        cond = cond & (Artifact.type == type_)
    stmt = select(Artifact).options(defer(Artifact.content, raiseload=True)).where(cond)  # listed, not read
    return list(await session.scalars(stmt.order_by(Artifact.created_at.desc(), Artifact.id.desc()).limit(limit)))
