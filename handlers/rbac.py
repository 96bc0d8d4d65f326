"""RBAC endpoints: the permission catalogue, global roles, and who holds which role.

Commands are RbacService calls (chatsvc/services/rbac.py holds the rules a client should know: only holders
of `rbac.manage`, built-in roles, unique names, no granting what one lacks, idempotent assign); reads stay
here and also need `rbac.manage`, except reading one's own effective permissions.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz, keys
from chatsvc.permissions import PERMISSIONS
from chatsvc.schemas import Page
from chatsvc.schemas.admin import Paging
from chatsvc.schemas.rbac import PermissionOut, RoleCreate, RoleOut, RoleRef, RoleUpdate, UserPermissionsOut
from chatsvc.security import Principal
from chatsvc.services.rbac import RbacService, load_role, load_user, require_manage, roles_out, user_roles_page
from chatsvc.views import ApiView, endpoint
from storage import rbac
from storage.models import Role, User


class RbacView(ApiView):
    """Shared helpers of the RBAC views."""

    tag = "rbac"

    def ident(self, name: str = "id") -> str:
        """Return a path parameter; anything that cannot be an id is simply not found."""
        return self.match(name)

    def raw(self, name: str) -> str:
        """Return a path parameter unchecked: the service checks its shape after authorizing, so a caller
        without `rbac.manage` gets 403 whatever the id."""
        return self.request.match_info.get(name, "")

    @property
    def rbac(self) -> RbacService:
        return self.app[keys.SERVICES].rbac

    async def manage(self, s: AsyncSession) -> None:
        await require_manage(s, self.principal)

    async def role(self, s: AsyncSession, name: str = "id") -> Role:
        return await load_role(s, self.ident(name))

    async def user(self, s: AsyncSession) -> User:
        return await load_user(s, self.ident("id"))


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
        return await self.rbac.create_role(self.principal, name=body.name, description=body.description,
                                           permissions=body.permissions)


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
        return await self.rbac.update_role(self.principal, self.raw("id"), name=body.name,
                                           description=body.description, permissions=body.permissions)

    @endpoint("Delete a custom role (its holders lose it at once)", status=204, errors=(403, 404))
    async def delete(self) -> None:
        await self.rbac.delete_role(self.principal, self.raw("id"))


class UserRolesView(RbacView):
    path = "/rbac/users/{id}/roles"

    @endpoint("The roles a user holds, by name", query=Paging, response=Page[RoleOut], errors=(403, 404))
    async def get(self, query: Paging) -> Page[RoleOut]:
        async with self.db.read() as s:
            await self.manage(s)
            return await user_roles_page(s, await self.user(s), query)


class UserRoleView(RbacView):
    path = "/rbac/users/{id}/roles/{role_id}"

    @endpoint("Give a user a role (idempotent)", response=Page[RoleOut], status=201, errors=(403, 404),
              extra_responses={200: "The user already had the role"},
              description="201 when newly assigned, 200 when the user already had the role; both answer the "
                          "user's roles (up to 200). 403 when the role carries permissions you do not hold.")
    async def put(self) -> web.Response:
        done = await self.rbac.assign(self.principal, self.raw("id"), self.raw("role_id"))
        return web.Response(status=201 if done.created else 200, text=done.roles.model_dump_json(),
                            content_type="application/json")

    @endpoint("Take a role away from a user", status=204, errors=(403, 404),
              description="404 when the user does not hold the role.")
    async def delete(self) -> None:
        await self.rbac.unassign(self.principal, self.raw("id"), self.raw("role_id"))


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
