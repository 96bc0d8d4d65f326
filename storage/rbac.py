"""Global roles, their permissions, and user-role assignments."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Role, RolePermission, UserRole


async def ensure_builtin_roles(session: AsyncSession, builtin: dict[str, tuple[str, tuple[str, ...]]]) -> None:
    """Create the built-in roles if missing and give them exactly their permissions.

    Writes nothing when everything is already in place: server processes starting together on one
    database (`--workers N`) each run this, and rewriting the same rows concurrently would collide.
    """
    for name, (description, perms) in builtin.items():
        role = await by_name(session, name)
        if role is None:
            role = Role(name=name, description=description, is_builtin=True)
            session.add(role)
            await session.flush()
        elif set((await permissions_of_roles(session, [role.id]))[role.id]) == set(perms):
            continue
        await set_permissions(session, role.id, list(perms))


async def get(session: AsyncSession, role_id: str) -> Role | None:
    return await session.get(Role, role_id)


async def by_name(session: AsyncSession, name: str) -> Role | None:
    return await session.scalar(select(Role).where(Role.name == name))


async def list_roles(session: AsyncSession, limit: int, offset: int) -> tuple[list[Role], int]:
    total = await session.scalar(select(func.count()).select_from(Role))
    rows = await session.scalars(select(Role).order_by(Role.name).limit(limit).offset(offset))
    return list(rows), int(total or 0)


async def permissions_of_roles(session: AsyncSession, role_ids: list[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {rid: [] for rid in role_ids}
    if not role_ids:
        return result
    rows = await session.execute(
        select(RolePermission.role_id, RolePermission.permission)
        .where(RolePermission.role_id.in_(role_ids))
        .order_by(RolePermission.permission)
    )
    for role_id, perm in rows:
        result[role_id].append(perm)
    return result


async def set_permissions(session: AsyncSession, role_id: str, permissions: list[str]) -> None:
    await session.execute(delete(RolePermission).where(RolePermission.role_id == role_id))
    for perm in sorted(set(permissions)):
        session.add(RolePermission(role_id=role_id, permission=perm))
    await session.flush()


async def roles_of_user(session: AsyncSession, user_id: str) -> list[Role]:
    rows = await session.scalars(
        select(Role).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == user_id).order_by(Role.name)
    )
    return list(rows)


async def assign(session: AsyncSession, user_id: str, role_id: str) -> bool:
    """Give a role to a user; return False when they already had it."""
    if await session.get(UserRole, (user_id, role_id)) is not None:
        return False
    session.add(UserRole(user_id=user_id, role_id=role_id))
    await session.flush()
    return True


async def unassign(session: AsyncSession, user_id: str, role_id: str) -> bool:
    result = await session.execute(
        delete(UserRole).where(UserRole.user_id == user_id, UserRole.role_id == role_id)
    )
    return bool(getattr(result, "rowcount", 0))  # a CursorResult: DML results carry rowcount


async def user_permissions(session: AsyncSession, user_id: str) -> set[str]:
    """Return the union of the permissions of every role the user holds."""
    rows = await session.scalars(
        select(RolePermission.permission)
        .join(UserRole, UserRole.role_id == RolePermission.role_id)
        .where(UserRole.user_id == user_id)
    )
    return set(rows)


# --- additions for the RBAC endpoints ---------------------------------------------------------

async def by_name_ci(session: AsyncSession, name: str) -> Role | None:
    """Find a role by name, case-insensitively (so 'Admin' cannot shadow 'admin')."""
    return await session.scalar(select(Role).where(func.lower(Role.name) == name.lower()))


async def create_role(session: AsyncSession, *, name: str, description: str, permissions: list[str]) -> Role:
    """Create a custom role with these permissions."""
    role = Role(name=name, description=description, is_builtin=False)
    session.add(role)
    await session.flush()
    await set_permissions(session, role.id, permissions)
    return role


async def delete_role(session: AsyncSession, role: Role) -> None:
    """Delete a role; its permissions and assignments go with it (FK cascade, done explicitly too)."""
    await session.execute(delete(UserRole).where(UserRole.role_id == role.id))
    await session.execute(delete(RolePermission).where(RolePermission.role_id == role.id))
    await session.delete(role)
    await session.flush()
