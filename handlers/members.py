"""Project members: list, add, change a role, remove.

Commands are ProjectService calls (chatsvc/services/projects.py says who may do what). Members are addressed
by their user id in URLs; an unknown user in the add body is a 422 (the project in the path exists, the body
names nobody), a user who already is a member a 409.
"""

from __future__ import annotations

from typing import Any

from chatsvc import authz
from chatsvc.schemas import Page, PageQuery
from chatsvc.schemas.projects import MemberAdd, MemberOut, MemberUpdate, member_out
from chatsvc.views import ProjectScopedView, endpoint
from storage import projects


class MemberScopedView(ProjectScopedView):
    tag = "members"


class MembersView(MemberScopedView):
    path = "/projects/{id}/members"

    @endpoint("List a project's members in the order they joined", query=PageQuery, response=Page[MemberOut],
              errors=(404,))
    async def get(self, query: PageQuery) -> dict[str, Any]:
        async with self.db.read() as s:
            project_id = self.ident()
            await authz.require_project(s, self.principal, project_id)
            rows, total = await projects.list_members(s, project_id, limit=query.limit, offset=query.offset)
        items = [member_out(m, u).model_dump(mode="json") for m, u in rows]
        return {"items": items, "total": total, "limit": query.limit, "offset": query.offset}

    @endpoint("Add a member (owner)", body=MemberAdd, response=MemberOut, status=201, errors=(403, 404, 409),
              description="Name the user by exactly one of `user_id` or `username` (case-insensitive). "
                          "An unknown or disabled user is a 422 on that field; an existing member a 409.")
    async def post(self, body: MemberAdd) -> MemberOut:
        return await self.projects.add_member(self.principal, self.ident(), user_id=body.user_id,
                                              username=body.username, role=body.role)


class MemberView(MemberScopedView):
    path = "/projects/{id}/members/{user_id}"

    @endpoint("Change a member's role (owner)", body=MemberUpdate, response=MemberOut, errors=(403, 404, 409),
              description="Demoting the last owner is a 409.")
    async def patch(self, body: MemberUpdate) -> MemberOut:
        return await self.projects.change_role(self.principal, self.ident(), self.ident("user_id"), body.role)

    @endpoint("Remove a member (owner), or leave the project (any member)", status=204,
              errors=(403, 404, 409), description="Removing the last owner is a 409.")
    async def delete(self) -> None:
        await self.projects.remove_member(self.principal, self.ident(), self.ident("user_id"))


VIEWS = [MembersView, MemberView]
