"""ProjectService: projects and their members, each command end to end.

Who may do what (authz.require_project decides; a non-member gets 404 for the project and everything in
it): any member reads; only an owner renames, deletes, adds members and changes roles; any member may remove
themself (leave). A project always keeps at least one owner: demoting or removing the last one is a 409.
A superuser acts as owner everywhere. Deleting a project removes everything in it (the database cascades),
then the blobs no file row uses.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz
from chatsvc.errors import Conflict, Forbidden, NotFound, ValidationFailed
from chatsvc.events import EventBus, project_topic, publish_resource, user_topic
from chatsvc.schemas.projects import MemberOut, ProjectOut, member_out
from chatsvc.security import Principal
from chatsvc.services.files import collect_blobs
from storage import files, projects, users
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import Project, ProjectMember, User

LAST_OWNER = "A project needs at least one owner: make someone else owner first."


def project_json(project: Project, my_role: str | None = None) -> ProjectOut:
    """Serialise a project, with the caller's role when known."""
    out = ProjectOut.model_validate(project)
    out.my_role = my_role  # type: ignore[assignment]
    return out


def event_json(out: ProjectOut) -> dict[str, Any]:
    """The project as events carry it: without `my_role`, which differs per reader."""
    return out.model_dump(mode="json", exclude={"my_role"})


class ProjectService:
    """Create, change and delete projects; add, change and remove members."""

    def __init__(self, *, db: Database, bus: EventBus, blobs: BlobStore, cpu: Executor) -> None:
        self.db = db
        self.bus = bus
        self.blobs = blobs
        self.cpu = cpu

    # --- projects -----------------------------------------------------------------------------
    async def create(self, principal: Principal, *, name: str, description: str) -> ProjectOut:
        """Create a project (needs the global `projects.create`); the caller becomes its owner."""
        async with self.db.write() as s:
            await authz.require_permission(s, principal, "projects.create")
            project = await projects.create(s, name=name, description=description, created_by=principal.user_id)
            out = project_json(project, "owner")
        publish_resource(self.bus, [project_topic(project.id), user_topic(principal.user_id)], "project",
                         "created", event_json(out), principal.user_id)
        return out

    async def update(self, principal: Principal, project_id: str, *, name: str | None, description: str | None,
                     set_description: bool) -> ProjectOut:
        """Rename or re-describe (owner); an unchanged project keeps its version and publishes nothing."""
        async with self.db.write() as s:
            role = await authz.require_project(s, principal, project_id, need="owner")
            project = await projects.lock(s, project_id)
            if project is None:
                raise NotFound("No such project.")
            before = project.version
            if name is not None:
                project.name = name
            if set_description:
                project.description = description or ""
            await s.flush()
            out = project_json(project, role)
        if out.version != before:
            publish_resource(self.bus, [project_topic(out.id)], "project", "updated", event_json(out),
                             principal.user_id)
        return out

    async def delete(self, principal: Principal, project_id: str) -> None:
        """Delete a project and everything in it (owner); members hear of it on their own topics."""
        async with self.db.write() as s:
            await authz.require_project(s, principal, project_id, need="owner")
            project = await projects.lock(s, project_id)
            if project is None:
                raise NotFound("No such project.")
            members = await projects.member_user_ids(s, project.id)
            digests = await files.digests_in_project(s, project.id)
            out = project_json(project)
            await projects.delete_project(s, project.id)
        topics = [project_topic(out.id), *(user_topic(uid) for uid in members)]
        publish_resource(self.bus, topics, "project", "deleted", event_json(out), principal.user_id)
        await collect_blobs(self.db, self.blobs, self.cpu, digests)

    # --- members ------------------------------------------------------------------------------
    async def add_member(self, principal: Principal, project_id: str, *, user_id: str | None,
                         username: str | None, role: str) -> MemberOut:
        """Add a user named by id or username (owner); unknown or disabled: 422 on that field; member: 409."""
        async with self.db.write() as s:
            await self._locked_project(s, principal, project_id, "owner")
            if user_id is not None:
                user, field = await users.get(s, user_id), "user_id"
            else:
                user, field = await users.by_login(s, username or ""), "username"
                if user is not None and user.username_key != (username or "").lower():
                    user = None  # by_login also matches emails; members are named by username only
            if user is None or not user.is_active:
                raise ValidationFailed.field(["body", field], "No such user.")
            if await projects.get_member(s, project_id, user.id) is not None:
                raise Conflict(f"{user.username} is already a member of this project.")
            member = await projects.add_member(s, project_id, user.id, role)
            out = member_out(member, user)
        self._publish_member(principal, "created", out)
        return out

    async def change_role(self, principal: Principal, project_id: str, member_id: str, role: str) -> MemberOut:
        """Change a member's role (owner); demoting the last owner is a 409."""
        async with self.db.write() as s:
            await self._locked_project(s, principal, project_id, "owner")
            member, user = await self._member(s, project_id, member_id)
            before = member.version
            if member.role == "owner" and role != "owner" and await projects.owner_count(s, project_id) <= 1:
                raise Conflict(LAST_OWNER)
            member.role = role
            await s.flush()
            out = member_out(member, user)
        if out.version != before:
            self._publish_member(principal, "updated", out)
        return out

    async def remove_member(self, principal: Principal, project_id: str, member_id: str) -> None:
        """Remove a member (owner) or leave (any member); removing the last owner is a 409."""
        async with self.db.write() as s:
            my_role = await self._locked_project(s, principal, project_id, "viewer")
            member, user = await self._member(s, project_id, member_id)
            if member.user_id != principal.user_id and authz.ROLE_RANK[my_role] < authz.ROLE_RANK["owner"]:
                raise Forbidden("Only an owner can remove other members.")
            if member.role == "owner" and await projects.owner_count(s, project_id) <= 1:
                raise Conflict(LAST_OWNER)
            out = member_out(member, user)
            await projects.remove_member(s, member)
        self._publish_member(principal, "deleted", out)

    @staticmethod
    async def _locked_project(s: AsyncSession, principal: Principal, project_id: str, need: str) -> str:
        """Authorize on the project, then lock it; return the caller's role."""
        role = await authz.require_project(s, principal, project_id, need=need)
        if await projects.lock(s, project_id) is None:  # deleted meanwhile
            raise NotFound("No such project.")
        return role

    @staticmethod
    async def _member(s: AsyncSession, project_id: str, user_id: str) -> tuple[ProjectMember, User]:
        member = await projects.get_member(s, project_id, user_id)
        user = await users.get(s, member.user_id) if member is not None else None
        if member is None or user is None:
            raise NotFound("No such member in this project.")
        return member, user

    def _publish_member(self, principal: Principal, action: str, out: MemberOut) -> None:
        """Tell the project and the member themself (their access changed)."""
        topics = [project_topic(out.project_id), user_topic(out.user_id)]
        publish_resource(self.bus, topics, "member", action, out.model_dump(mode="json"), principal.user_id)
