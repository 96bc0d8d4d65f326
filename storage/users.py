"""Users, their auth sessions (cookie sessions and bearer tokens), and the admin overview of the system."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import (
    AuthSession,
    ChatSession,
    ProjectMember,
    User,
    utcnow,
)


async def get(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def username(session: AsyncSession, user_id: str | None) -> str | None:
    """A user's name, or None (no user, or a deleted one)."""
    if user_id is None:
        return None
    name: str | None = await session.scalar(select(User.username).where(User.id == user_id))
    return name


async def by_login(session: AsyncSession, login: str) -> User | None:
    """Find a user by username or email, case-insensitively."""
    key = login.strip().lower()
    result = await session.execute(select(User).where(or_(User.username_key == key, User.email == key)))
    return result.scalar_one_or_none()


async def taken(session: AsyncSession, *, email: str, username: str) -> list[str]:
    """Return which of email/username already belong to someone."""
    result = await session.execute(
        select(User.email, User.username_key).where(
            or_(User.email == email.lower(), User.username_key == username.lower())
        )
    )
    clashes: set[str] = set()
    for row_email, row_key in result:
        if row_email == email.lower():
            clashes.add("email")
        if row_key == username.lower():
            clashes.add("username")
    return sorted(clashes)


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def create(
    session: AsyncSession, *, email: str, username: str, password_hash: str,
    full_name: str = "", is_superuser: bool = False,
) -> User:
    user = User(
        email=email.lower(), username=username, username_key=username.lower(),
        full_name=full_name, password_hash=password_hash, is_superuser=is_superuser,
    )
    session.add(user)
    await session.flush()
    return user


async def search(session: AsyncSession, q: str, limit: int, offset: int,
                 exact_email: bool = False) -> tuple[list[User], int]:
    """Active users whose username or name contains q, or (exact_email) whose email is q.

    Never by part of an email: that would let any user confirm others' addresses letter by letter.
    """
    cond: ColumnElement[bool] = User.is_active.is_(True)
    if q:
        like = f"%{q.lower().replace('%', '').replace('_', '')}%"
        matches: list[ColumnElement[bool]] = [User.username_key.like(like), func.lower(User.full_name).like(like)]
        if exact_email:
            matches.append(User.email == q.strip().lower())
        cond = cond & or_(*matches)
    total = await session.scalar(select(func.count()).select_from(User).where(cond))
    rows = await session.scalars(select(User).where(cond).order_by(User.username_key).limit(limit).offset(offset))
    return list(rows), int(total or 0)


async def list_all(session: AsyncSession, limit: int, offset: int, q: str = "") -> tuple[list[User], int]:
    cond: ColumnElement[bool] = User.id.is_not(None)
    if q:
        like = f"%{q.lower()}%"
        cond = or_(User.username_key.like(like), User.email.like(like), func.lower(User.full_name).like(like))
    total = await session.scalar(select(func.count()).select_from(User).where(cond))
    rows = await session.scalars(
        select(User).where(cond).order_by(User.created_at, User.id).limit(limit).offset(offset))
    return list(rows), int(total or 0)


# --- auth sessions -------------------------------------------------------------------------

async def add_auth_session(
    session: AsyncSession, *, user_id: str, kind: str, token_hash: str, ttl_s: int,
    user_agent: str = "", ip: str = "",
) -> AuthSession:
    now = utcnow()
    row = AuthSession(
        user_id=user_id, kind=kind, token_hash=token_hash, last_seen_at=now,
        expires_at=now + dt.timedelta(seconds=ttl_s), user_agent=user_agent[:300], ip=ip[:64],
    )
    session.add(row)
    await session.flush()
    return row


async def live_auth_session(
    session: AsyncSession, token_hash: str, kind: str, idle_s: int
) -> tuple[AuthSession, User] | None:
    """Return the unexpired, unrevoked session with this hash and its active user."""
    now = utcnow()
    result = await session.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(
            AuthSession.token_hash == token_hash,
            AuthSession.kind == kind,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
            AuthSession.last_seen_at > now - dt.timedelta(seconds=idle_s),
            User.is_active.is_(True),
        )
    )
    row = result.first()
    return (row[0], row[1]) if row else None


async def alive_auth_sessions(session: AsyncSession, ids: Iterable[str], idle_s: int) -> dict[str, User]:
    """Of these auth sessions, the ones still valid (unrevoked, unexpired, not idle, active user), with the user."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    now = utcnow()
    result = await session.execute(
        select(AuthSession.id, User)
        .join(User, User.id == AuthSession.user_id)
        .where(
            AuthSession.id.in_(wanted),
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
            AuthSession.last_seen_at > now - dt.timedelta(seconds=idle_s),
            User.is_active.is_(True),
        )
    )
    return {row[0]: row[1] for row in result}


async def touch_auth_session(session: AsyncSession, auth_session_id: str) -> None:
    await session.execute(
        update(AuthSession).where(AuthSession.id == auth_session_id).values(last_seen_at=utcnow())
    )


async def revoke_auth_session(session: AsyncSession, auth_session_id: str) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == auth_session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_user_sessions(session: AsyncSession, user_id: str, *, except_id: str | None = None) -> list[str]:
    """Revoke every live session of a user (but one, optionally); return the ids revoked."""
    cond = (AuthSession.user_id == user_id) & AuthSession.revoked_at.is_(None)
    if except_id:
        cond = cond & (AuthSession.id != except_id)
    ids = list(await session.scalars(select(AuthSession.id).where(cond)))
    if ids:
        await session.execute(update(AuthSession).where(AuthSession.id.in_(ids)).values(revoked_at=utcnow()))
    return ids


# --- additions for the admin endpoints ---------------------------------------------------------
# The admin overview reads across aggregates (projects, chats, tasks); it lives here until a
# storage/stats.py exists.

async def active_superuser_ids(session: AsyncSession, *, lock: bool = False) -> list[str]:
    """Return the ids of active superusers; lock their rows (PostgreSQL) so two admins cannot race."""
    stmt = select(User.id).where(User.is_superuser.is_(True), User.is_active.is_(True)).order_by(User.id)
    if lock:
        stmt = stmt.with_for_update()
    return list(await session.scalars(stmt))


async def sole_owned_project_ids(session: AsyncSession, user_id: str) -> list[str]:
    """Return the projects in which this user is the only owner."""
    other = aliased(ProjectMember)
    others_exist = (
        select(other.id)
        .where(other.project_id == ProjectMember.project_id, other.role == "owner", other.user_id != user_id)
        .exists()
    )
    rows = await session.scalars(
        select(ProjectMember.project_id)
        .where(ProjectMember.user_id == user_id, ProjectMember.role == "owner", ~others_exist)
        .order_by(ProjectMember.project_id)
    )
    return list(rows)


async def personal_chat_ids(session: AsyncSession, user_id: str) -> list[str]:
    """Return the ids of the user's personal (project-less) chat sessions."""
    rows = await session.scalars(
        select(ChatSession.id).where(ChatSession.owner_id == user_id, ChatSession.project_id.is_(None))
    )
    return list(rows)


async def delete_user(session: AsyncSession, user: User) -> list[str]:
    """Delete a user and their personal chat sessions; return the ids of those sessions.

    Everything else follows the foreign keys: auth sessions, memberships and role assignments are
    deleted; projects, documents, artifacts, tasks, project chats and messages keep their rows with
    the author/creator set to NULL.
    """
    chat_ids = await personal_chat_ids(session, user.id)
    if chat_ids:
        await session.execute(delete(ChatSession).where(ChatSession.id.in_(chat_ids)))
    await session.delete(user)
    await session.flush()
    return chat_ids
