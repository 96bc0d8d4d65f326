"""Project members: list, add, change a role, remove.

Who may do what: any member lists; owners add, change roles and remove anyone; any member may remove
themself (leave). A project always keeps at least one owner: demoting or removing the last one is a 409.
Members are addressed by their user id in URLs; an unknown user in the add body is a 422 (the project in
the path exists, the body names nobody), a user who already is a member a 409.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz
from chatsvc.errors import Conflict, Forbidden, NotFound, ValidationFailed
from chatsvc.events import project_topic, user_topic
from chatsvc.schemas import Page, PageQuery
from chatsvc.schemas.projects import MemberAdd, MemberOut, MemberUpdate, member_out
from chatsvc.views import ProjectScopedView, endpoint
from storage import projects, users
from storage.models import ProjectMember, User

LAST_OWNER = "A project needs at least one owner: make someone else owner first."


class MemberScopedView(ProjectScopedView):
    tag = "members"

    async def locked_project(self, s: AsyncSession, need: str) -> tuple[str, str]:
        """Authorize on the project in the path, then lock it; return (project id, caller's role)."""
        project_id = self.ident()
        role = await authz.require_project(s, self.principal, project_id, need=need)
        if await projects.lock(s, project_id) is None:  # deleted meanwhile
            raise NotFound("No such project.")
        return project_id, role

    async def target(self, s: AsyncSession, project_id: str) -> tuple[ProjectMember, User]:
        """Load the membership named by {user_id} in the path, or 404."""
        member = await projects.get_member(s, project_id, self.ident("user_id"))
        user = await users.get(s, member.user_id) if member is not None else None
        if member is None or user is None:
            raise NotFound("No such member in this project.")
        return member, user

    def publish_member(self, action: str, out: MemberOut) -> None:
        """Tell the project and the member themself (their access changed)."""
        topics = [project_topic(out.project_id), user_topic(out.user_id)]
        self.publish(topics, "member", action, out.model_dump(mode="json"))


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
        async with self.db.write() as s:
            project_id, _role = await self.locked_project(s, "owner")
            if body.user_id is not None:
                user, field = await users.get(s, body.user_id), "user_id"
            else:
                user, field = await users.by_login(s, body.username or ""), "username"
                if user is not None and user.username_key != (body.username or "").lower():
                    user = None  # by_login also matches emails; members are named by username only
            if user is None or not user.is_active:
                raise ValidationFailed.field(["body", field], "No such user.")
            if await projects.get_member(s, project_id, user.id) is not None:
                raise Conflict(f"{user.username} is already a member of this project.")
            member = await projects.add_member(s, project_id, user.id, body.role)
            out = member_out(member, user)
        self.publish_member("created", out)
        return out


class MemberView(MemberScopedView):
    path = "/projects/{id}/members/{user_id}"

    @endpoint("Change a member's role (owner)", body=MemberUpdate, response=MemberOut, errors=(403, 404, 409),
              description="Demoting the last owner is a 409.")
    async def patch(self, body: MemberUpdate) -> MemberOut:
        async with self.db.write() as s:
            project_id, _role = await self.locked_project(s, "owner")
            member, user = await self.target(s, project_id)
            before = member.version
            if member.role == "owner" and body.role != "owner" and await projects.owner_count(s, project_id) <= 1:
                raise Conflict(LAST_OWNER)
            member.role = body.role
            await s.flush()
            out = member_out(member, user)
        if out.version != before:
            self.publish_member("updated", out)
        return out

    @endpoint("Remove a member (owner), or leave the project (any member)", status=204,
              errors=(403, 404, 409), description="Removing the last owner is a 409.")
    async def delete(self) -> None:
        async with self.db.write() as s:
            project_id, role = await self.locked_project(s, "viewer")
            member, user = await self.target(s, project_id)
            if member.user_id != self.principal.user_id and authz.ROLE_RANK[role] < authz.ROLE_RANK["owner"]:
                raise Forbidden("Only an owner can remove other members.")
            if member.role == "owner" and await projects.owner_count(s, project_id) <= 1:
                raise Conflict(LAST_OWNER)
            out = member_out(member, user)
            await projects.remove_member(s, member)
        self.publish_member("deleted", out)


VIEWS = [MembersView, MemberView]
