"""Read-side queries for the agent's tools and the background tasks: requirements, test cases, reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Artifact, DocumentVersion, Requirement

REQUIREMENT_FIELDS = ("uid", "title", "statement", "modality", "priority", "section", "fingerprint")


async def resolve_version(session: AsyncSession, project_id: str, version_id: str | None) -> DocumentVersion | None:
    """The given version if it belongs to the project, else the project's current version."""
    if version_id:
        version = await session.get(DocumentVersion, version_id)
        return version if version is not None and version.project_id == project_id else None
    return await session.scalar(
        select(DocumentVersion).where(DocumentVersion.project_id == project_id, DocumentVersion.is_current.is_(True))
    )


async def requirements_of(session: AsyncSession, version_id: str) -> list[dict[str, Any]]:
    """The requirements of a document version as plain dicts, in document order."""
    rows = await session.scalars(
        select(Requirement).where(Requirement.document_version_id == version_id).order_by(Requirement.position)
    )
    return [{f: getattr(r, f) for f in REQUIREMENT_FIELDS} for r in rows]


async def project_test_cases(session: AsyncSession, project_id: str) -> list[dict[str, Any]]:
    """Every test case in the project's test_cases artifacts; for a repeated id the newest artifact wins."""
    rows = await session.scalars(
        select(Artifact).where(Artifact.project_id == project_id, Artifact.type == "test_cases")
        .order_by(Artifact.created_at, Artifact.id)
    )
    cases: dict[str, dict[str, Any]] = {}
    for artifact in rows:
        for case in (artifact.content or {}).get("test_cases", []):
            if isinstance(case, dict) and case.get("id"):
                cases[str(case["id"])] = case
    return list(cases.values())


async def latest_artifact(session: AsyncSession, project_id: str, type_: str,
                          version_id: str | None = None) -> Artifact | None:
    cond = (Artifact.project_id == project_id) & (Artifact.type == type_)
    if version_id:
        cond = cond & (Artifact.document_version_id == version_id)
    return await session.scalar(select(Artifact).where(cond).order_by(Artifact.created_at.desc(),
                                                                       Artifact.id.desc()).limit(1))


async def recent_artifacts(session: AsyncSession, project_id: str, type_: str | None, limit: int) -> list[Artifact]:
    cond = Artifact.project_id == project_id
    if type_:
        cond = cond & (Artifact.type == type_)
    return list(await session.scalars(select(Artifact).where(cond).order_by(Artifact.created_at.desc(),
                                                                            Artifact.id.desc()).limit(limit)))
