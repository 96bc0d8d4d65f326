"""Artifacts (test cases, coverage reports, notes...): the repository the artifact handlers and tasks share.

Functions take the caller's AsyncSession (create_if_allowed: its Core connection) and never commit. Content
arrives already validated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Insert,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import defer

from storage.models import Artifact, DocumentVersion, Project, ProjectMember, new_id, utcnow

ARTIFACTS: Table = Artifact.__table__  # type: ignore[assignment]  # a Table (declarative)
WRITER_ROLES = ("owner", "editor")
_CREATE_COLUMNS = ("id", "project_id", "document_version_id", "type", "name", "content", "created_by", "task_id",
                   "created_at", "updated_at", "version")


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


def _create_if_allowed_stmt() -> Insert:
    """INSERT … SELECT <values> WHERE <the creator may write here> AND <the version, if any, is of this project>:
    authorization and insert are one statement, run for a whole batch as one executemany (one trip to
    SQLite's single writer, no ORM unit of work). A row is written when its `created_by` may write in its
    project (editor or owner; with `superuser`, any existing project) and its `document_version_id`, if any, is
    a version of that project."""

    def p(name: str, type_: Any = None) -> Any:
        return bindparam(name, type_=ARTIFACTS.c[name].type if type_ is None else type_)

    project_id, created_by, version_id = p("project_id"), p("created_by"), p("document_version_id")
    member_writes = exists().where(ProjectMember.project_id == project_id, ProjectMember.user_id == created_by,
                                   ProjectMember.role.in_([literal_column(f"'{role}'") for role in WRITER_ROLES]))
    superuser_writes = and_(p("superuser", Boolean()), exists().where(Project.id == project_id))
    version_fits = or_(version_id.is_(None), exists().where(DocumentVersion.id == version_id,
                                                             DocumentVersion.project_id == project_id))
    values = select(*(p(name) for name in _CREATE_COLUMNS)).where(or_(member_writes, superuser_writes),
                                                                    version_fits)
    return insert(ARTIFACTS).from_select(list(_CREATE_COLUMNS), values)


_CREATE_IF_ALLOWED = _create_if_allowed_stmt()
_WRITTEN = select(ARTIFACTS.c.id).where(ARTIFACTS.c.id.in_(bindparam("ids", expanding=True)))


def new_artifact(*, project_id: str, type: str, name: str, content: Any, created_by: str, superuser: bool,
                 document_version_id: str | None = None) -> dict[str, Any]:
    """The values of an artifact to create with `create_if_allowed` (id and times set now)."""
    now = utcnow()
    return {"id": new_id(), "project_id": project_id, "document_version_id": document_version_id, "type": type,
            "name": name, "content": content, "created_by": created_by, "task_id": None, "created_at": now,
            "updated_at": now, "version": 1, "superuser": superuser}


async def create_if_allowed(conn: AsyncConnection, items: Sequence[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """Insert the artifacts (from `new_artifact`) their creators may write; answer each one's new row (its
    columns as inserted), or None where it was refused (nothing written: the caller finds out which rule
    failed). Call in a write transaction: the ids written are read back in it."""
    ids = [item["id"] for item in items]
    if not ids:
        return []
    inserted = (await conn.execute(_CREATE_IF_ALLOWED, list(items))).rowcount
    if inserted == len(ids):  # all of them (SQLite counts the rows of an executemany): no need to look
        written = set(ids)
    else:  # some refused, or a driver that does not count: read back which
        written = set((await conn.execute(_WRITTEN, {"ids": ids})).scalars())
    return [{name: item[name] for name in _CREATE_COLUMNS} if item["id"] in written else None for item in items]


_RENAME = (update(ARTIFACTS).where(ARTIFACTS.c.id == bindparam("p_id"))
           .values(name=bindparam("p_name"), version=ARTIFACTS.c.version + 1, updated_at=bindparam("p_now"))
           .returning(ARTIFACTS.c.version))


async def rename(session: AsyncSession, artifact_id: str, name: str, now: dt.datetime) -> int:
    """Rename an artifact without reading or writing its content; return its new version."""
    result = await (await session.connection()).execute(_RENAME, {"p_id": artifact_id, "p_name": name, "p_now": now})
    return int(result.scalar_one())


async def head(session: AsyncSession, artifact_id: str) -> Artifact | None:
    """An artifact without its content (which may be tens of MB; reading it raises)."""
    return await session.scalar(select(Artifact).options(defer(Artifact.content, raiseload=True))
                                .where(Artifact.id == artifact_id).execution_options(populate_existing=True))


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
