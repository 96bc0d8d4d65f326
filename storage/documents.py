"""Document versions and their requirements: the repository the document handlers (and agent tools) share.

Every write that numbers versions or moves the `is_current` flag first calls `lock_project`: on PostgreSQL
that is `SELECT ... FOR UPDATE` on the project row, on SQLite the write transaction already holds the
database (BEGIN IMMEDIATE). So numbers never collide and exactly one version is current whenever any exist.
Functions take the caller's AsyncSession and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from storage.models import DocumentVersion, Project, Requirement, StoredFile, new_id

INSERT_BATCH = 250  # requirement rows per INSERT, so a large document never holds the loop for long


async def lock_project(session: AsyncSession, project_id: str) -> bool:
    """Lock the project row for this transaction; False when the project is gone."""
    stmt = select(Project.id).where(Project.id == project_id).with_for_update()
    return await session.scalar(stmt) is not None


async def get(session: AsyncSession, version_id: str) -> DocumentVersion | None:
    """Return a document version (with its content) by id, or None."""
    return await session.get(DocumentVersion, version_id)


async def get_locked(session: AsyncSession, version_id: str) -> DocumentVersion | None:
    """Re-read a version inside a write transaction (after lock_project), refreshing any stale copy."""
    stmt = select(DocumentVersion).where(DocumentVersion.id == version_id).execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def project_of(session: AsyncSession, version_id: str) -> str | None:
    """Return the project id of a version, or None when there is no such version."""
    return await session.scalar(select(DocumentVersion.project_id).where(DocumentVersion.id == version_id))


async def current(session: AsyncSession, project_id: str) -> DocumentVersion | None:
    """Return the project's current version, or None."""
    stmt = select(DocumentVersion).where(DocumentVersion.project_id == project_id, DocumentVersion.is_current.is_(True))
    return await session.scalar(stmt.order_by(DocumentVersion.number.desc()).limit(1))


async def current_id(session: AsyncSession, project_id: str) -> str | None:
    """Return the id of the project's current version (without loading its content), or None."""
    stmt = select(DocumentVersion.id).where(DocumentVersion.project_id == project_id,
                                            DocumentVersion.is_current.is_(True))
    return await session.scalar(stmt.order_by(DocumentVersion.number.desc()).limit(1))


async def number_of(session: AsyncSession, version_id: str) -> tuple[str, int] | None:
    """Return (project id, number) of a version without loading its content, or None when there is none."""
    row = (await session.execute(select(DocumentVersion.project_id, DocumentVersion.number)
                                 .where(DocumentVersion.id == version_id))).first()
    return (str(row[0]), int(row[1])) if row is not None else None


async def version_before(session: AsyncSession, project_id: str, number: int) -> str | None:
    """Return the id of the project's highest-numbered version below `number`, or None."""
    return await session.scalar(
        select(DocumentVersion.id).where(DocumentVersion.project_id == project_id, DocumentVersion.number < number)
        .order_by(DocumentVersion.number.desc()).limit(1)
    )


async def list_versions(
    session: AsyncSession, project_id: str, limit: int, offset: int
) -> tuple[list[DocumentVersion], int]:
    """List a project's versions newest first, without loading their content."""
    cond = DocumentVersion.project_id == project_id
    total = await session.scalar(select(func.count()).select_from(DocumentVersion).where(cond))
    rows = await session.scalars(
        select(DocumentVersion).options(defer(DocumentVersion.content, raiseload=True)).where(cond)
        .order_by(DocumentVersion.number.desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


async def next_number(session: AsyncSession, project_id: str) -> int:
    """Take the next version number of a project (call after lock_project); numbers are never reused.

    A plain UPDATE that leaves the project as clients see it unchanged: its version, and its updated_at
    (named here, or the column's onupdate would set it), so no `project.updated` is owed to anyone.
    """
    number = await session.scalar(
        update(Project).where(Project.id == project_id)
        .values(last_document_number=Project.last_document_number + 1, updated_at=Project.updated_at)
        .returning(Project.last_document_number)
    )
    return int(number or 1)


async def demote_current(session: AsyncSession, project_id: str, keep_id: str | None = None) -> list[DocumentVersion]:
    """Clear `is_current` on the project's current versions (but keep_id); return those that changed."""
    stmt = select(DocumentVersion).where(
        DocumentVersion.project_id == project_id, DocumentVersion.is_current.is_(True)
    ).execution_options(populate_existing=True)
    demoted = [row for row in await session.scalars(stmt) if row.id != keep_id]
    for row in demoted:
        row.is_current = False
    await session.flush()
    return demoted


async def promote_newest(session: AsyncSession, project_id: str) -> DocumentVersion | None:
    """Make the highest-numbered version current when none is; return it when it changed."""
    if await current(session, project_id) is not None:
        return None
    newest = await session.scalar(
        select(DocumentVersion).where(DocumentVersion.project_id == project_id)
        .order_by(DocumentVersion.number.desc()).limit(1).execution_options(populate_existing=True)
    )
    if newest is not None:
        newest.is_current = True
        await session.flush()
    return newest


def requirement_rows(version_id: str, requirements: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn extracted requirements into `requirements` rows (pure; for big documents, build them off the loop)."""
    return [
        {"id": new_id(), "document_version_id": version_id, "position": i, "uid": r["uid"],
         "title": r["title"][:300], "statement": r["statement"], "modality": r["modality"],
         "priority": r["priority"], "section": r["section"][:300], "fingerprint": r["fingerprint"]}
        for i, r in enumerate(requirements)
    ]


async def create(
    session: AsyncSession, *, version_id: str, project_id: str, number: int, title: str, content: str, notes: str,
    is_current: bool, created_by: str, source_file_id: str | None, rows: Sequence[dict[str, Any]],
) -> DocumentVersion:
    """Insert a version (with a pre-chosen id) and its requirement rows from requirement_rows()."""
    version = DocumentVersion(
        id=version_id, project_id=project_id, number=number, title=title, content=content, notes=notes,
        is_current=is_current, requirement_count=len(rows), source_file_id=source_file_id, created_by=created_by,
    )
    session.add(version)
    await session.flush()
    for start in range(0, len(rows), INSERT_BATCH):
        await session.execute(insert(Requirement), rows[start:start + INSERT_BATCH])
    return version


async def delete_version(session: AsyncSession, version_id: str) -> None:
    """Delete a version and its requirements; artifacts are detached beforehand by the caller."""
    await session.execute(delete(Requirement).where(Requirement.document_version_id == version_id))
    await session.execute(delete(DocumentVersion).where(DocumentVersion.id == version_id))


async def list_requirements(
    session: AsyncSession, version_id: str, limit: int, offset: int
) -> tuple[list[Requirement], int]:
    """List a version's requirements in document order."""
    cond = Requirement.document_version_id == version_id
    total = await session.scalar(select(func.count()).select_from(Requirement).where(cond))
    rows = await session.scalars(select(Requirement).where(cond).order_by(Requirement.position).limit(limit)
                                 .offset(offset))
    return list(rows), int(total or 0)


async def file_in_project(session: AsyncSession, file_id: str, project_id: str) -> StoredFile | None:
    """Return an uploaded file when it belongs to the project, else None."""
    return await session.scalar(
        select(StoredFile).where(StoredFile.id == file_id, StoredFile.project_id == project_id)
    )
