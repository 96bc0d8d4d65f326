"""Artifacts (test cases, coverage reports, notes...): the repository the artifact handlers and tasks share.

Functions take the caller's AsyncSession and never commit. Content arrives already validated.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Artifact


async def create(
    session: AsyncSession, *, project_id: str, type: str, name: str, content: Any, created_by: str | None,
    document_version_id: str | None = None, task_id: str | None = None,
) -> Artifact:
    """Insert an artifact."""
    artifact = Artifact(project_id=project_id, type=type, name=name, content=content, created_by=created_by,
                        document_version_id=document_version_id, task_id=task_id)
    session.add(artifact)
    await session.flush()
    return artifact


async def get(session: AsyncSession, artifact_id: str) -> Artifact | None:
    """Return an artifact by id, or None."""
    return await session.get(Artifact, artifact_id)


async def get_fresh(session: AsyncSession, artifact_id: str) -> Artifact | None:
    """Re-read an artifact inside a write transaction, locking it on PostgreSQL."""
    stmt = (select(Artifact).where(Artifact.id == artifact_id).with_for_update()
            .execution_options(populate_existing=True))
    return await session.scalar(stmt)


async def list_artifacts(
    session: AsyncSession, *, limit: int, offset: int, project_id: str | None = None,
    project_ids: list[str] | None = None, all_projects: bool = False, type: str | None = None,
    document_version_id: str | None = None,
) -> tuple[list[Artifact], int]:
    """List artifacts newest first: of one project, of several (`project_ids`), or of all (`all_projects`)."""
    conds: list[Any] = []
    if project_id is not None:
        conds.append(Artifact.project_id == project_id)
    elif not all_projects:
        conds.append(Artifact.project_id.in_(project_ids) if project_ids else false())
    if type is not None:
        conds.append(Artifact.type == type)
    if document_version_id is not None:
        conds.append(Artifact.document_version_id == document_version_id)
    total = await session.scalar(select(func.count()).select_from(Artifact).where(*conds))
    rows = await session.scalars(
        select(Artifact).where(*conds).order_by(Artifact.created_at.desc(), Artifact.id.desc())
        .limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


async def detach_from_version(session: AsyncSession, version_id: str) -> list[Artifact]:
    """Unlink a document version's artifacts (before it is deleted); return them, updated."""
    rows = list(await session.scalars(
        select(Artifact).where(Artifact.document_version_id == version_id)
        .execution_options(populate_existing=True)
    ))
    for row in rows:
        row.document_version_id = None
    await session.flush()
    return rows


async def delete_artifact(session: AsyncSession, artifact_id: str) -> None:
    """Delete an artifact."""
    await session.execute(delete(Artifact).where(Artifact.id == artifact_id))
