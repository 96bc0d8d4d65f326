"""File rows (metadata of uploads) and the per-blob lock that keeps blob clean-up safe.

Blobs are shared by content: two file rows with the same SHA-256 point at one blob. Whoever places a
blob or decides to remove one first takes `lock_blob` for that digest inside its write transaction, then
looks at the rows: on PostgreSQL a transaction-scoped advisory lock, on SQLite the write transaction
already holds the database (BEGIN IMMEDIATE). So an upload never loses its blob to a concurrent delete.
Functions take the caller's AsyncSession and never commit.
"""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import StoredFile


async def create(
    session: AsyncSession, *, project_id: str, filename: str, content_type: str, size: int, sha256: str,
    uploaded_by: str,
) -> StoredFile:
    row = StoredFile(project_id=project_id, filename=filename, content_type=content_type, size=size,
                     sha256=sha256, uploaded_by=uploaded_by)
    session.add(row)
    await session.flush()
    return row


async def get(session: AsyncSession, file_id: str) -> StoredFile | None:
    return await session.get(StoredFile, file_id)


async def list_for_project(
    session: AsyncSession, project_id: str, *, limit: int, offset: int
) -> tuple[list[StoredFile], int]:
    """Return a project's files, newest first, and how many there are."""
    total = await session.scalar(
        select(func.count()).select_from(StoredFile).where(StoredFile.project_id == project_id)
    )
    rows = await session.scalars(
        select(StoredFile).where(StoredFile.project_id == project_id)
        .order_by(StoredFile.created_at.desc(), StoredFile.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


async def delete(session: AsyncSession, row: StoredFile) -> None:
    await session.delete(row)
    await session.flush()


async def digests_in_project(session: AsyncSession, project_id: str) -> list[str]:
    """Return the distinct blob digests a project's files use."""
    return list(await session.scalars(
        select(StoredFile.sha256).where(StoredFile.project_id == project_id).distinct()
    ))


async def references(session: AsyncSession, sha256: str) -> int:
    """Count the file rows that use a blob."""
    return int(await session.scalar(
        select(func.count()).select_from(StoredFile).where(StoredFile.sha256 == sha256)
    ) or 0)


async def lock_blob(session: AsyncSession, sha256: str) -> None:
    """Serialise placing and removing one blob until this transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        key = int(sha256[:15], 16)  # 60 bits: fits a bigint
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
