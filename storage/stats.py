"""Counts for the admin overview."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Artifact, ChatMessage, ChatSession, DocumentVersion, Project, Task, User


async def system_counts(session: AsyncSession) -> dict[str, Any]:
    """Count the rows the admin overview shows, plus tasks grouped by status."""
    def total(model: type) -> Any:
        return select(func.count()).select_from(model).scalar_subquery()

    row = (await session.execute(select(
        total(User).label("users"),
        select(func.count()).select_from(User).where(User.is_active.is_(True)).scalar_subquery().label("active"),
        total(Project).label("projects"),
        total(DocumentVersion).label("document_versions"),
        total(Artifact).label("artifacts"),
        total(ChatSession).label("chat_sessions"),
        total(ChatMessage).label("messages"),
    ))).one()
    by_status = dict((await session.execute(select(Task.status, func.count()).group_by(Task.status))).all())
    return {
        "users": int(row.users), "active_users": int(row.active), "projects": int(row.projects),
        "document_versions": int(row.document_versions), "artifacts": int(row.artifacts),
        "chat_sessions": int(row.chat_sessions), "messages": int(row.messages),
        "tasks_by_status": {str(k): int(v) for k, v in sorted(by_status.items())},
    }
