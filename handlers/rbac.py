"""RBAC endpoints: the permission catalogue, global roles, and who holds which role.

Everything needs the global `rbac.manage` permission, except reading one's own effective permissions.
Rules a client should know:
- The built-in roles `admin` and `member` cannot be deleted, renamed or given other permissions (403);
  their description may change.
- Role names are unique ignoring case (409).
- A caller who is not a superuser cannot grant permissions they do not hold themselves (403): not in a
  new or changed role, and not by assigning a role that carries them. This keeps `rbac.manage` from
  being a path to every other permission.
- Assigning is idempotent: 201 when the role was newly given, 200 when the user already had it; both
  answer the user's roles. Changes take effect on the user's next request.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz
from chatsvc.errors import Conflict, Forbidden, NotFound
from chatsvc.permissions import PERMISSIONS
from chatsvc.schemas import Page
from chatsvc.schemas.admin import Paging
from chatsvc.schemas.rbac import PermissionOut, RoleCreate, RoleOut, RoleRef, RoleUpdate, UserPermissionsOut
from chatsvc.security import Principal
from chatsvc.views import ApiView, endpoint
from storage import rbac, users
from storage.models import Role, User, utcnow

MANAGE = "rbac.manage"
ALL_ROLES = Paging(limit=200, offset=0)  # what PUT answers: the user's roles, first page of the maximum size


async def roles_out(s: AsyncSession, roles: list[Role]) -> list[RoleOut]:
    """Serialise roles with their permissions (one query for all of them)."""
    perms = await rbac.permissions_of_roles(s, [r.id for r in roles])
    return [
        RoleOut(id=r.id, name=r.name, description=r.description, permissions=perms[r.id], is_builtin=r.is_builtin,
                created_at=r.created_at, updated_at=r.updated_at, version=r.version)
        for r in roles
    ]


def name_taken(name: str) -> Conflict:
    return Conflict("A role with that name already exists.",
                    details=[{"loc": ["body", "name"], "msg": "already taken"}])


class RbacView(ApiView):
    """Shared helpers of the RBAC views."""

    tag = "rbac"

    def ident(self, name: str = "id") -> str:
        """Return a path parameter; anything that cannot be an id is simply not found."""
        return self.match(name)

    async def manage(self, s: AsyncSession) -> None:
        await authz.require_permission(s, self.principal, MANAGE)

    async def role(self, s: AsyncSession, name: str = "id") -> Role:
        role = await rbac.get(s, self.ident(name))
        if role is None:
            raise NotFound("No such role.")
        return role

    async def user(self, s: AsyncSession) -> User:
        user = await users.get(s, self.ident("id"))
        if user is None:
            raise NotFound("No such user.")
        return user

    async def may_grant(self, s: AsyncSession, permissions: set[str]) -> None:
        """Refuse (403) to grant permissions the caller does not hold; superusers hold them all."""
        missing = permissions - await authz.global_permissions(s, self.principal)
        if missing:
            raise Forbidden(f"You cannot grant permissions you do not hold: {', '.join(sorted(missing))}.")


class PermissionsView(RbacView):
    path = "/rbac/permissions"

    @endpoint("The catalogue of global permissions", query=Paging, response=Page[PermissionOut], errors=(403,))
    async def get(self, query: Paging) -> Page[PermissionOut]:
        async with self.db.read() as s:
            await self.manage(s)
        items = [PermissionOut(name=n, description=d) for n, d in sorted(PERMISSIONS.items())]
        return Page[PermissionOut](items=items[query.offset:query.offset + query.limit], total=len(items),
                                   limit=query.limit, offset=query.offset)


class RolesView(RbacView):
    path = "/rbac/roles"

    @endpoint("List global roles by name", query=Paging, response=Page[RoleOut], errors=(403,))
    async def get(self, query: Paging) -> Page[RoleOut]:
        async with self.db.read() as s:
            await self.manage(s)
            rows, total = await rbac.list_roles(s, query.limit, query.offset)
            items = await roles_out(s, rows)
        return Page[RoleOut](items=items, total=total, limit=query.limit, offset=query.offset)

    @endpoint("Create a custom role", body=RoleCreate, response=RoleOut, status=201, errors=(403, 409),
              description="Unknown permission names are a 422 naming the item. Names are unique ignoring case.")
    async def post(self, body: RoleCreate) -> RoleOut:
        try:
            async with self.db.write() as s:
                await self.manage(s)
                await self.may_grant(s, set(body.permissions))
                if await rbac.by_name_ci(s, body.name) is not None:
                    raise name_taken(body.name)
                role = await rbac.create_role(s, name=body.name, description=body.description,
                                              permissions=body.permissions)
                (out,) = await roles_out(s, [role])
        except IntegrityError:  # a concurrent create of the same name (PostgreSQL)
            raise name_taken(body.name) from None
        return out


class RoleView(RbacView):
    path = "/rbac/roles/{id}"

    @endpoint("Read one role", response=RoleOut, errors=(403, 404))
    async def get(self) -> RoleOut:
        async with self.db.read() as s:
            await self.manage(s)
            (out,) = await roles_out(s, [await self.role(s)])
        return out

    @endpoint("Change a role's name, description or permissions", body=RoleUpdate, response=RoleOut,
              errors=(403, 404, 409),
              description="`permissions`, when given, replaces the whole set. Built-in roles: only the "
                          "description may change (403 otherwise).")
    async def patch(self, body: RoleUpdate) -> RoleOut:
        try:
            async with self.db.write() as s:
                await self.manage(s)
                role = await self.role(s)
                current = set((await rbac.permissions_of_roles(s, [role.id]))[role.id])
                rename = body.name is not None and body.name != role.name
                new_perms = set(body.permissions) if body.permissions is not None else current
                if role.is_builtin and (rename or new_perms != current):
                    raise Forbidden(f"The built-in role '{role.name}' keeps its name and permissions.")
                if rename:
                    clash = await rbac.by_name_ci(s, body.name or "")
                    if clash is not None and clash.id != role.id:
                        raise name_taken(body.name or "")
                if new_perms != current:
                    await self.may_grant(s, new_perms - current)
                    await rbac.set_permissions(s, role.id, sorted(new_perms))  # flushes: before touching the role
                    role.updated_at = utcnow()  # the permissions live in another table: bump the role's version
                if rename:
                    role.name = body.name or role.name
                if body.description is not None:
                    role.description = body.description
                await s.flush()  # one UPDATE of the role, so one version step per PATCH
                (out,) = await roles_out(s, [role])
        except IntegrityError:
            raise name_taken(body.name or "") from None
        return out

    @endpoint("Delete a custom role (its holders lose it at once)", status=204, errors=(403, 404))
    async def delete(self) -> None:
        async with self.db.write() as s:
            await self.manage(s)
            role = await self.role(s)
            if role.is_builtin:
                raise Forbidden(f"The built-in role '{role.name}' cannot be deleted.")
            await rbac.delete_role(s, role)


class UserRolesView(RbacView):
    path = "/rbac/users/{id}/roles"

    @endpoint("The roles a user holds, by name", query=Paging, response=Page[RoleOut], errors=(403, 404))
    async def get(self, query: Paging) -> Page[RoleOut]:
        async with self.db.read() as s:
            await self.manage(s)
            return await user_roles_page(s, await self.user(s), query)


async def user_roles_page(s: AsyncSession, user: User, query: Paging) -> Page[RoleOut]:
    """Page through a user's roles (a user holds few, so this pages in Python)."""
    roles = await rbac.roles_of_user(s, user.id)
    items = await roles_out(s, roles[query.offset:query.offset + query.limit])
    return Page[RoleOut](items=items, total=len(roles), limit=query.limit, offset=query.offset)


class UserRoleView(RbacView):
    path = "/rbac/users/{id}/roles/{role_id}"

    @endpoint("Give a user a role (idempotent)", response=Page[RoleOut], status=201, errors=(403, 404),
              description="201 when newly assigned, 200 when the user already had the role; both answer the "
                          "user's roles (up to 200). 403 when the role carries permissions you do not hold.")
    async def put(self) -> web.Response:
        for attempt in (1, 2):  # a concurrent assign or delete (PostgreSQL) fails ours once; the retry sees it
            try:
                created, page = await self._assign()
                break
            except IntegrityError:
                if attempt == 2:
                    raise Conflict("The assignment changed concurrently; try again.") from None
        return web.Response(status=201 if created else 200, text=page.model_dump_json(),
                            content_type="application/json")

    async def _assign(self) -> tuple[bool, Page[RoleOut]]:
        async with self.db.write() as s:
            await self.manage(s)
            user = await self.user(s)
            role = await self.role(s, "role_id")
            perms = (await rbac.permissions_of_roles(s, [role.id]))[role.id]
            await self.may_grant(s, set(perms))
            created = await rbac.assign(s, user.id, role.id)
            return created, await user_roles_page(s, user, ALL_ROLES)

    @endpoint("Take a role away from a user", status=204, errors=(403, 404),
              description="404 when the user does not hold the role.")
    async def delete(self) -> None:
        async with self.db.write() as s:
            await self.manage(s)
            user = await self.user(s)
            role = await self.role(s, "role_id")
            if not await rbac.unassign(s, user.id, role.id):
                raise NotFound("The user does not hold this role.")


class UserPermissionsView(RbacView):
    path = "/rbac/users/{id}/permissions"

    @endpoint("A user's effective global permissions and roles", response=UserPermissionsOut, errors=(403, 404),
              description="Anyone may read their own; reading another user's needs `rbac.manage`.")
    async def get(self) -> UserPermissionsOut:
        user_id = self.ident()
        async with self.db.read() as s:
            if user_id != self.principal.user_id:
                await self.manage(s)
            user = await self.user(s)
            perms = await authz.global_permissions(s, principal_of(user))
            roles = await rbac.roles_of_user(s, user.id)
        return UserPermissionsOut(user_id=user.id, permissions=sorted(perms), is_superuser=user.is_superuser,
                                  roles=[RoleRef.model_validate(r) for r in roles])


def principal_of(user: User) -> Principal:
    """Describe a user as a principal, so their permissions come from the one authorization path."""
    return Principal(user_id=user.id, username=user.username, is_superuser=user.is_superuser,
                     auth_session_id="", via="bearer")


VIEWS: list[Any] = [PermissionsView, RolesView, RoleView, UserRolesView, UserRoleView, UserPermissionsView]
