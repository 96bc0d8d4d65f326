"""Projects and their members.

Member changes first lock the project row (`lock`): on PostgreSQL that is `SELECT ... FOR UPDATE`, on
SQLite the write transaction already holds the database (BEGIN IMMEDIATE). So two owners demoting each
other at once cannot leave a project without an owner. Functions take the caller's AsyncSession and
never commit.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Project, ProjectMember, User


async def create(session: AsyncSession, *, name: str, description: str, created_by: str) -> Project:
    """Insert a project and make its creator the owner."""
    project = Project(name=name, description=description, created_by=created_by)
    session.add(project)
    await session.flush()
    session.add(ProjectMember(project_id=project.id, user_id=created_by, role="owner"))
    await session.flush()
    return project


async def get(session: AsyncSession, project_id: str) -> Project | None:
    return await session.get(Project, project_id)


async def lock(session: AsyncSession, project_id: str) -> Project | None:
    """Lock a project row for this transaction and refresh it; None when it is gone."""
    stmt = (
        select(Project).where(Project.id == project_id).with_for_update()
        .execution_options(populate_existing=True)
    )
    return await session.scalar(stmt)


async def list_for(
    session: AsyncSession, user_id: str | None, *, limit: int, offset: int
) -> tuple[list[tuple[Project, str | None]], int]:
    """Return (project, member role) pairs, newest first: a user's projects, or all when user_id is None."""
    order = (Project.created_at.desc(), Project.id.desc())
    if user_id is None:
        total = await session.scalar(select(func.count()).select_from(Project))
        every = await session.scalars(select(Project).order_by(*order).limit(limit).offset(offset))
        return [(project, None) for project in every], int(total or 0)
    total = await session.scalar(
        select(func.count()).select_from(ProjectMember).where(ProjectMember.user_id == user_id)
    )
    rows = await session.execute(
        select(Project, ProjectMember.role)
        .join(ProjectMember, (ProjectMember.project_id == Project.id) & (ProjectMember.user_id == user_id))
        .order_by(*order).limit(limit).offset(offset)
    )
    return [(project, role) for project, role in rows.all()], int(total or 0)


async def delete_project(session: AsyncSession, project_id: str) -> None:
    """Delete a project; the database cascades to everything in it (members, files, documents, chats...)."""
    await session.execute(delete(Project).where(Project.id == project_id))


# --- members ------------------------------------------------------------------------------------

async def member_user_ids(session: AsyncSession, project_id: str) -> list[str]:
    return list(await session.scalars(select(ProjectMember.user_id).where(ProjectMember.project_id == project_id)))


async def list_members(
    session: AsyncSession, project_id: str, *, limit: int, offset: int
) -> tuple[list[tuple[ProjectMember, User]], int]:
    """Return (membership, user) pairs in the order people joined."""
    total = await session.scalar(
        select(func.count()).select_from(ProjectMember).where(ProjectMember.project_id == project_id)
    )
    rows = await session.execute(
        select(ProjectMember, User).join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project_id)
        .order_by(ProjectMember.created_at, ProjectMember.id).limit(limit).offset(offset)
    )
    return [(member, user) for member, user in rows.all()], int(total or 0)


async def get_member(session: AsyncSession, project_id: str, user_id: str) -> ProjectMember | None:
    return await session.scalar(
        select(ProjectMember).where(ProjectMember.project_id == project_id, ProjectMember.user_id == user_id)
        .execution_options(populate_existing=True)
    )


async def add_member(session: AsyncSession, project_id: str, user_id: str, role: str) -> ProjectMember:
    member = ProjectMember(project_id=project_id, user_id=user_id, role=role)
    session.add(member)
    await session.flush()
    return member


async def owner_count(session: AsyncSession, project_id: str) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(ProjectMember)
        .where(ProjectMember.project_id == project_id, ProjectMember.role == "owner")
    ) or 0)


async def remove_member(session: AsyncSession, member: ProjectMember) -> None:
    await session.delete(member)
    await session.flush()
