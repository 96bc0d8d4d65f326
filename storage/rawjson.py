"""Artifacts written from their content's JSON text, for results too big to build or encode on the event loop.

A background task's test cases or coverage report can be tens of MB. Through the ORM, SQLAlchemy's JSON
type would `json.dumps` the content on the loop (the async session runs its bind processors there); here
the text, encoded by a worker process, goes to the driver as it is. On PostgreSQL the column is `json`,
which keeps the text as given; on SQLite it is stored as text. Reading it back is the ordinary JSON
column. Functions take the caller's AsyncSession and never commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, insert, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator

from storage.models import Artifact, new_id, utcnow


class EncodedJSON(TypeDecorator[str]):
    """A JSON column's value given as its JSON text: bound without encoding it again."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None  # the text is already JSON (asyncpg's json codec takes text; SQLite stores it)


async def create_artifact(
    session: AsyncSession, *, project_id: str, type: str, name: str, content_text: str, created_by: str | None,
    document_version_id: str | None = None, task_id: str | None = None,
) -> dict[str, Any]:
    """Insert an artifact whose content is the JSON text `content_text`; return its columns but the content."""
    now = utcnow()
    row: dict[str, Any] = {
        "id": new_id(), "project_id": project_id, "document_version_id": document_version_id, "type": type,
        "name": name, "created_by": created_by, "task_id": task_id, "created_at": now, "updated_at": now,
        "version": 1,
    }
    await session.execute(insert(Artifact).values(**row, content=type_coerce(content_text, EncodedJSON())))
    return row
