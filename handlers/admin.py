"""Admin endpoints: every account, system stats and every task. All need the global `admin.access` permission.

Rules a client should know:
- Nobody disables, demotes or deletes their own account here (409), and the last active superuser
  cannot be disabled, demoted or deleted by anyone (409): the system never loses its last admin.
- Only a superuser grants superuser status or changes or deletes a superuser's account; a holder of
  `admin.access` who is not a superuser gets 403 for that.
- Disabling an account revokes every session and token it holds and closes its websockets.
- Deleting an account deletes its personal chat sessions (nobody else could ever read them); what it
  wrote in projects stays, with the author set to null. A user who is the only owner of a project
  cannot be deleted (409, the projects in `details`): make someone else owner or delete the project first.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz, keys
from chatsvc.errors import Conflict, Forbidden, NotFound
from chatsvc.events import chat_topic, publish_resource, publish_sessions_revoked, user_topic
from chatsvc.schemas import Page, page_of
from chatsvc.schemas.admin import AdminUserQuery, AdminUserUpdate, StatsOut, TaskQuery
from chatsvc.schemas.tasks import TaskOut
from chatsvc.schemas.users import UserOut
from chatsvc.views import ApiView, endpoint
from storage import stats, users
from storage import tasks as tasks_repo
from storage.models import User

ADMIN = "admin.access"
# Gauges read from the app's METRICS providers; a part that is not running simply reports nothing (0).
RECONNECT_CODE = 1012  # RFC 6455 "service restart": come back and resume


class AdminView(ApiView):
    """Shared helpers of the admin views."""

    tag = "admin"

    def user_id(self) -> str:
        """Return the {id} path parameter; anything that cannot be an id is simply not found."""
        return self.match("id")

    async def target(self, s: AsyncSession) -> User:
        """Authorize, then load the user in the path (404 when unknown)."""
        await authz.require_permission(s, self.principal, ADMIN)
        user = await users.get(s, self.user_id())
        if user is None:
            raise NotFound("No such user.")
        return user

    async def guard_loss(self, s: AsyncSession, user: User, action: str) -> None:
        """Refuse to disable, demote or delete oneself or the last active superuser (409)."""
        if user.id == self.principal.user_id:
            raise Conflict(f"You cannot {action} your own account; ask another admin.")
        if user.is_superuser and user.is_active:
            others = [i for i in await users.active_superuser_ids(s, lock=True) if i != user.id]
            if not others:
                raise Conflict(f"You cannot {action} the last active superuser.")

    def guard_superuser(self, user: User, promoting: bool) -> None:
        """Only a superuser makes superusers or touches a superuser's account (403)."""
        if self.principal.is_superuser:
            return
        if promoting:
            raise Forbidden("Only a superuser can grant superuser status.")
        if user.is_superuser:
            raise Forbidden("Only a superuser can change or delete a superuser's account.")


class UsersView(AdminView):
    path = "/admin/users"

    @endpoint("List every account, active or not", query=AdminUserQuery, response=Page[UserOut],
              errors=(403,), description="`q` matches username, email or full name (substring, any case). "
                                         "Ordered by creation time, oldest first.")
    async def get(self, query: AdminUserQuery) -> dict[str, Any]:
        async with self.db.read() as s:
            await authz.require_permission(s, self.principal, ADMIN)
            rows, total = await users.list_all(s, query.limit, query.offset, query.q)
            return page_of(UserOut, rows, total, query)


class UserView(AdminView):
    path = "/admin/users/{id}"

    @endpoint("Read one account", response=UserOut, errors=(403, 404))
    async def get(self) -> UserOut:
        async with self.db.read() as s:
            return UserOut.model_validate(await self.target(s))

    @endpoint("Change an account: enable or disable it, grant or revoke superuser, rename",
              body=AdminUserUpdate, response=UserOut, errors=(403, 404, 409),
              description="Disabling revokes every session and token of the account at once (its next "
                          "request answers 401, its websockets close with 4401, its correct login answers "
                          "403). You cannot disable or demote yourself or the last active superuser (409). "
                          "Only a superuser may change `is_superuser` or change a superuser's account (403). "
                          "Publishes `user.updated` on `user:{id}` when something changed.")
    async def patch(self, body: AdminUserUpdate) -> UserOut:
        revoked: list[str] = []
        async with self.db.write() as s:
            user = await self.target(s)
            before = user.version
            disabling = body.is_active is False and user.is_active
            demoting = body.is_superuser is False and user.is_superuser
            promoting = body.is_superuser is True and not user.is_superuser
            if disabling or demoting:
                await self.guard_loss(s, user, "disable" if disabling else "demote")
            if _changes(user, body):
                self.guard_superuser(user, promoting)
            for field in ("is_active", "is_superuser", "full_name"):
                value = getattr(body, field)
                if value is not None:
                    setattr(user, field, value)
            if disabling:
                revoked = await users.revoke_user_sessions(s, user.id)
            await s.flush()
            out = UserOut.model_validate(user)
        publish_sessions_revoked(self.app[keys.EVENTS], out.id, revoked)
        if out.version != before:
            publish_resource(self.app[keys.EVENTS], [user_topic(out.id)], "user", "updated",
                             out.model_dump(mode="json"), actor=self.principal.user_id)
        return out

    @endpoint("Delete an account", status=204, errors=(403, 404, 409),
              description="Deletes the account, its sessions, memberships, role assignments and personal "
                          "chat sessions; project content it wrote stays with its author set to null. "
                          "409 for yourself, for the last active superuser, and for the only owner of a "
                          "project (the project ids are in `details`). Publishes `user.deleted` on `user:{id}`.")
    async def delete(self) -> None:
        async with self.db.write() as s:
            user = await self.target(s)
            await self.guard_loss(s, user, "delete")
            self.guard_superuser(user, promoting=False)
            sole = await users.sole_owned_project_ids(s, user.id)
            if sole:
                raise Conflict(
                    "This user is the only owner of some projects; give them another owner or delete them first.",
                    details=[{"loc": ["project_id"], "msg": project_id} for project_id in sole],
                )
            user_id, version = user.id, user.version
            revoked = await users.revoke_user_sessions(s, user_id)
            chat_ids = await users.delete_user(s, user)
        bus = self.app[keys.EVENTS]
        publish_sessions_revoked(self.app[keys.EVENTS], user_id, revoked)
        for chat_id in chat_ids:
            publish_resource(bus, [chat_topic(chat_id), user_topic(user_id)], "chat_session", "deleted",
                             {"id": chat_id}, actor=self.principal.user_id)
        publish_resource(bus, [user_topic(user_id)], "user", "deleted", {"id": user_id, "version": version},
                         actor=self.principal.user_id)


def _changes(user: User, body: AdminUserUpdate) -> bool:
    """Tell whether the body would change anything on this account."""
    return any(
        getattr(body, field) is not None and getattr(body, field) != getattr(user, field)
        for field in ("is_active", "is_superuser", "full_name")
    )


class ReconnectOut(BaseModel):
    closed: int = Field(description="how many of the user's websockets this process closed")


class ReconnectView(AdminView):
    path = "/admin/users/{id}/reconnect"

    @endpoint("Ask every open websocket of a user to reconnect", response=ReconnectOut, errors=(403, 404),
              description="Each socket gets `goodbye {code: 1012, reconnect: true}` and is closed with 1012 "
                          "(service restart); clients reconnect and resume with `since`, losing nothing. For "
                          "operations: moving clients after a deploy, or making a user's tabs re-check access.")
    async def post(self) -> ReconnectOut:
        async with self.db.read() as s:
            user = await self.target(s)
        conns = self.app[keys.SOCKETS].of_user(user.id)
        for conn in conns:
            conn.kick(RECONNECT_CODE, "An administrator asked this connection to reconnect.", reconnect=True)
        return ReconnectOut(closed=len(conns))


class StatsView(AdminView):
    path = "/admin/stats"

    @endpoint("Counts of the whole system, plus this process's live sockets and runs", response=StatsOut,
              errors=(403,),
              description="Database counts are global. `live_sockets` and `active_runs` are the answering "
                          "process's own (the same numbers as its `chatsvc_websockets` and `chatsvc_active_runs` "
                          "gauges), so with several workers each reports its own.")
    async def get(self) -> StatsOut:
        async with self.db.read() as s:
            await authz.require_permission(s, self.principal, ADMIN)
            counts = await stats.system_counts(s)
        return StatsOut.model_validate({
            **counts, "tasks": sum(counts["tasks_by_status"].values()),
            "live_sockets": self.app[keys.SOCKETS].count(), "active_runs": self.app[keys.RUNS].active_count(),
        })


class TasksView(AdminView):
    path = "/admin/tasks"

    @endpoint("List every task of the system, newest first", query=TaskQuery, response=Page[TaskOut],
              errors=(403,), description="`status` (queued, running, succeeded, failed, cancelled, "
                                         "interrupted) narrows the list to one status.")
    async def get(self, query: TaskQuery) -> dict[str, Any]:
        async with self.db.read() as s:
            await authz.require_permission(s, self.principal, ADMIN)
            rows, total = await tasks_repo.list_tasks(s, project_ids=None, status=query.status, limit=query.limit,
                                                     offset=query.offset)
            return page_of(TaskOut, rows, total, query)


VIEWS = [UsersView, UserView, ReconnectView, StatsView, TasksView]
