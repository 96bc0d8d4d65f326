"""RbacService: global roles, their permissions, and who holds them, each command end to end.

Everything needs the global `rbac.manage` permission (reading one's own effective permissions is a read,
in handlers/rbac.py). The rules a client should know:
- The built-in roles `admin` and `member` cannot be deleted, renamed or given other permissions (403);
  their description may change.
- Role names are unique ignoring case (409).
- A caller who is not a superuser cannot grant permissions they do not hold themselves (403): not in a
  new or changed role, and not by assigning a role that carries them. This keeps `rbac.manage` from
  being a path to every other permission.
- Assigning is idempotent: `assign` says whether the role was newly given (REST answers 201, else 200);
  both answer the user's roles. Changes take effect on the user's next request (authz reads them each time),
  so nothing is published.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz
from chatsvc.errors import Conflict, Forbidden, NotFound
from chatsvc.schemas import Page
from chatsvc.schemas.admin import Paging
from chatsvc.schemas.common import is_id
from chatsvc.schemas.rbac import RoleOut
from chatsvc.security import Principal
from storage import rbac, users
from storage.db import Database
from storage.models import Role, User, utcnow

MANAGE = "rbac.manage"
ALL_ROLES = Paging(limit=200, offset=0)  # what assign answers: the user's roles, first page of the maximum size


@dataclass(frozen=True)
class Assignment:
    """What assigning a role did: whether it was newly given, and the user's roles afterwards."""

    created: bool
    roles: Page[RoleOut]


async def roles_out(s: AsyncSession, roles: list[Role]) -> list[RoleOut]:
    """Serialise roles with their permissions (one query for all of them)."""
    perms = await rbac.permissions_of_roles(s, [r.id for r in roles])
    return [
        RoleOut(id=r.id, name=r.name, description=r.description, permissions=perms[r.id], is_builtin=r.is_builtin,
                created_at=r.created_at, updated_at=r.updated_at, version=r.version)
        for r in roles
    ]


async def user_roles_page(s: AsyncSession, user: User, query: Paging) -> Page[RoleOut]:
    """Page through a user's roles (a user holds few, so this pages in Python)."""
    roles = await rbac.roles_of_user(s, user.id)
    items = await roles_out(s, roles[query.offset:query.offset + query.limit])
    return Page[RoleOut](items=items, total=len(roles), limit=query.limit, offset=query.offset)


async def require_manage(s: AsyncSession, principal: Principal) -> None:
    """Refuse (403) a caller without the global `rbac.manage`."""
    await authz.require_permission(s, principal, MANAGE)


def _checked_id(value: str) -> str:
    # Callers may pass a raw path segment: a malformed id is not found (as a view's path parsing answers),
    # and never reaches the database (PostgreSQL refuses NUL in text).
    if not is_id(value):
        raise NotFound()
    return value


async def load_role(s: AsyncSession, role_id: str) -> Role:
    """Return the role, or raise 404."""
    role = await rbac.get(s, _checked_id(role_id))
    if role is None:
        raise NotFound("No such role.")
    return role


async def load_user(s: AsyncSession, user_id: str) -> User:
    """Return the user, or raise 404."""
    user = await users.get(s, _checked_id(user_id))
    if user is None:
        raise NotFound("No such user.")
    return user


def name_taken(name: str) -> Conflict:
    return Conflict("A role with that name already exists.",
                    details=[{"loc": ["body", "name"], "msg": "already taken"}])


class RbacService:
    """Create, change and delete custom roles; give roles to users and take them away."""

    def __init__(self, *, db: Database) -> None:
        self.db = db

    async def create_role(self, principal: Principal, *, name: str, description: str,
                          permissions: list[str]) -> RoleOut:
        """Create a custom role; its name must be free ignoring case (409)."""
        try:
            async with self.db.write() as s:
                await require_manage(s, principal)
                await self._may_grant(s, principal, set(permissions))
                if await rbac.by_name_ci(s, name) is not None:
                    raise name_taken(name)
                role = await rbac.create_role(s, name=name, description=description, permissions=permissions)
                (out,) = await roles_out(s, [role])
        except IntegrityError:  # a concurrent create of the same name (PostgreSQL)
            raise name_taken(name) from None
        return out

    async def update_role(self, principal: Principal, role_id: str, *, name: str | None, description: str | None,
                          permissions: list[str] | None) -> RoleOut:
        """Rename, re-describe or replace the permissions of a role (None: unchanged); built-ins: description only."""
        try:
            async with self.db.write() as s:
                await require_manage(s, principal)
                role = await load_role(s, role_id)
                current = set((await rbac.permissions_of_roles(s, [role.id]))[role.id])
                rename = name is not None and name != role.name
                new_perms = set(permissions) if permissions is not None else current
                if role.is_builtin and (rename or new_perms != current):
                    raise Forbidden(f"The built-in role '{role.name}' keeps its name and permissions.")
                if rename:
                    clash = await rbac.by_name_ci(s, name or "")
                    if clash is not None and clash.id != role.id:
                        raise name_taken(name or "")
                if new_perms != current:
                    await self._may_grant(s, principal, new_perms - current)
                    await rbac.set_permissions(s, role.id, sorted(new_perms))  # flushes: before touching the role
                    role.updated_at = utcnow()  # the permissions live in another table: bump the role's version
                if rename:
                    role.name = name or role.name
                if description is not None:
                    role.description = description
                await s.flush()  # one UPDATE of the role, so one version step per change
                (out,) = await roles_out(s, [role])
        except IntegrityError:
            raise name_taken(name or "") from None
        return out

    async def delete_role(self, principal: Principal, role_id: str) -> None:
        """Delete a custom role; its holders lose it at once. Built-in roles stay (403)."""
        async with self.db.write() as s:
            await require_manage(s, principal)
            role = await load_role(s, role_id)
            if role.is_builtin:
                raise Forbidden(f"The built-in role '{role.name}' cannot be deleted.")
            await rbac.delete_role(s, role)

    async def assign(self, principal: Principal, user_id: str, role_id: str) -> Assignment:
        """Give a user a role (idempotent); 403 when the role carries permissions the caller lacks."""
        try:
            return await self._assign(principal, user_id, role_id)
        except IntegrityError:  # a concurrent assign or delete (PostgreSQL) fails ours once; the retry sees it
            pass
        try:
            return await self._assign(principal, user_id, role_id)
        except IntegrityError:
            raise Conflict("The assignment changed concurrently; try again.") from None

    async def _assign(self, principal: Principal, user_id: str, role_id: str) -> Assignment:
        async with self.db.write() as s:
            await require_manage(s, principal)
            user = await load_user(s, user_id)
            role = await load_role(s, role_id)
            perms = (await rbac.permissions_of_roles(s, [role.id]))[role.id]
            await self._may_grant(s, principal, set(perms))
            created = await rbac.assign(s, user.id, role.id)
            return Assignment(created, await user_roles_page(s, user, ALL_ROLES))

    async def unassign(self, principal: Principal, user_id: str, role_id: str) -> None:
        """Take a role away from a user; 404 when they do not hold it."""
        async with self.db.write() as s:
            await require_manage(s, principal)
            user = await load_user(s, user_id)
            role = await load_role(s, role_id)
            if not await rbac.unassign(s, user.id, role.id):
                raise NotFound("The user does not hold this role.")

    @staticmethod
    async def _may_grant(s: AsyncSession, principal: Principal, permissions: set[str]) -> None:
        """Refuse (403) to grant permissions the caller does not hold; superusers hold them all."""
        missing = permissions - await authz.global_permissions(s, principal)
        if missing:
            raise Forbidden(f"You cannot grant permissions you do not hold: {', '.join(sorted(missing))}.")
