"""Per-case editing of `test_cases` artifacts and their cases' history (test_case_revisions).

Functions take the caller's AsyncSession and never commit. Contents and revision JSON arrive already encoded
(by the cpu executor): nothing here encodes or decodes a whole artifact on the event loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Artifact, TestCaseRevision, User, new_id
from storage.rawjson import EncodedJSON

ARTIFACTS: Table = Artifact.__table__  # type: ignore[assignment]  # a Table (declarative)
REVISIONS: Table = TestCaseRevision.__table__  # type: ignore[assignment]

REVISIONS_PER_STATEMENT = 500
_ADD_REVISION = insert(REVISIONS).values(
    {name: bindparam(name, type_=EncodedJSON() if name in ("changes", "snapshot") else REVISIONS.c[name].type)
     for name in ("id", "artifact_id", "project_id", "tc_id", "revision", "action", "changed_by", "changed_at",
                  "changes", "snapshot")})


@dataclass(frozen=True)
class Change:
    """One stored revision of a case, with the username of who made it (None once that user is deleted)."""

    revision: int
    action: str
    changed_at: dt.datetime
    changed_by: str | None
    changed_by_name: str | None
    changes: Any
    snapshot: Any


async def current_revisions(session: AsyncSession, artifact_id: str) -> dict[str, int]:
    """The last stored revision of every case of the artifact that has one."""
    rows = await session.execute(select(REVISIONS.c.tc_id, func.max(REVISIONS.c.revision))
                                 .where(REVISIONS.c.artifact_id == artifact_id).group_by(REVISIONS.c.tc_id))
    return {tc_id: int(revision) for tc_id, revision in rows}


async def write_content(session: AsyncSession, artifact_id: str, *, version: int, content_text: str,
                        now: dt.datetime, name: str | None = None) -> bool:
    """Replace the content with its JSON text (and the name, when given) and bump the version, if the artifact
    is still at `version`; False when another write came first (nothing written)."""
    renamed = {"name": name} if name is not None else {}
    result = await session.execute(
        update(ARTIFACTS).where(ARTIFACTS.c.id == artifact_id, ARTIFACTS.c.version == version)
        .values(content=type_coerce(content_text, EncodedJSON()), version=version + 1, updated_at=now, **renamed))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]  # a CursorResult


async def add_revisions(session: AsyncSession, *, artifact_id: str, project_id: str, changed_by: str | None,
                        now: dt.datetime, rows: Sequence[dict[str, Any]]) -> None:
    """Insert revisions: each row's tc_id, revision, action, and changes and snapshot as JSON text (or None).
    REVISIONS_PER_STATEMENT at a time: replacing a suite of tens of thousands of cases makes a row each, and
    preparing them all in one statement would hold the loop for a long time (each statement is a trip to the
    database, between which the loop runs)."""
    for start in range(0, len(rows), REVISIONS_PER_STATEMENT):
        await session.execute(_ADD_REVISION, [
            {"id": new_id(), "artifact_id": artifact_id, "project_id": project_id, "changed_by": changed_by,
             "changed_at": now, **row} for row in rows[start:start + REVISIONS_PER_STATEMENT]])


def _changes_of(tc_id: str, artifact_id: str) -> Any:
    return (select(TestCaseRevision.revision, TestCaseRevision.action, TestCaseRevision.changed_at,
                   TestCaseRevision.changed_by, User.username, TestCaseRevision.changes, TestCaseRevision.snapshot)
            .outerjoin(User, User.id == TestCaseRevision.changed_by)
            .where(TestCaseRevision.artifact_id == artifact_id, TestCaseRevision.tc_id == tc_id))


async def history(session: AsyncSession, artifact_id: str, tc_id: str, *, limit: int,
                  offset: int) -> tuple[list[Change], int]:
    """A case's stored revisions, newest first, and how many there are."""
    total = await session.scalar(select(func.count()).select_from(REVISIONS).where(
        REVISIONS.c.artifact_id == artifact_id, REVISIONS.c.tc_id == tc_id))
    rows = await session.execute(_changes_of(tc_id, artifact_id).order_by(TestCaseRevision.revision.desc())
                                 .limit(limit).offset(offset))
    return [Change(*row) for row in rows], int(total or 0)


async def first_change(session: AsyncSession, artifact_id: str, tc_id: str) -> Change | None:
    """A case's oldest stored revision, or None when it has none."""
    row = (await session.execute(_changes_of(tc_id, artifact_id).order_by(TestCaseRevision.revision)
                                 .limit(1))).first()
    return Change(*row) if row is not None else None


async def last_change(session: AsyncSession, artifact_id: str, tc_id: str) -> Change | None:
    """A case's newest stored revision, or None when it has none."""
    row = (await session.execute(_changes_of(tc_id, artifact_id).order_by(TestCaseRevision.revision.desc())
                                 .limit(1))).first()
    return Change(*row) if row is not None else None
