"""Admin endpoints: every account, system stats and every task. All need the global `admin.access` permission.

Commands (change, delete, reconnect an account) are AdminService calls: chatsvc/services/admin.py states
the rules (no admin loses their own account or the last superuser; only a superuser touches superusers).
Reads stay here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from chatsvc import authz, keys
from chatsvc.schemas import Page, page_of
from chatsvc.schemas.admin import AdminUserQuery, AdminUserUpdate, StatsOut, TaskQuery
from chatsvc.schemas.tasks import TaskOut
from chatsvc.schemas.users import UserOut
from chatsvc.services.admin import ADMIN, AdminService, target_user
from chatsvc.views import ApiView, endpoint
from storage import stats, users
from storage import tasks as tasks_repo


class AdminView(ApiView):
    """Shared helpers of the admin views."""

    tag = "admin"

    @property
    def admin(self) -> AdminService:
        return self.app[keys.SERVICES].admin

    def user_id(self) -> str:
        """Return the raw {id} path segment: the service checks `admin.access` before the id's shape, so a
        caller without it gets 403 even for an id that cannot exist."""
        return self.request.match_info.get("id", "")


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
            return UserOut.model_validate(await target_user(s, self.principal, self.user_id()))

    @endpoint("Change an account: enable or disable it, grant or revoke superuser, rename",
              body=AdminUserUpdate, response=UserOut, errors=(403, 404, 409),
              description="Disabling revokes every session and token of the account at once (its next "
                          "request answers 401, its websockets close with 4401, its correct login answers "
                          "403). You cannot disable or demote yourself or the last active superuser (409). "
                          "Only a superuser may change `is_superuser` or change a superuser's account (403). "
                          "Publishes `user.updated` on `user:{id}` when something changed.")
    async def patch(self, body: AdminUserUpdate) -> UserOut:
        return await self.admin.update_user(self.principal, self.user_id(), is_active=body.is_active,
                                            is_superuser=body.is_superuser, full_name=body.full_name)

    @endpoint("Delete an account", status=204, errors=(403, 404, 409),
              description="Deletes the account, its sessions, memberships, role assignments and personal "
                          "chat sessions; project content it wrote stays with its author set to null. "
                          "409 for yourself, for the last active superuser, and for the only owner of a "
                          "project (the project ids are in `details`). Publishes `user.deleted` on `user:{id}`.")
    async def delete(self) -> None:
        await self.admin.delete_user(self.principal, self.user_id())


class ReconnectOut(BaseModel):
    closed: int = Field(description="how many of the user's websockets the answering process closed; with several "
                                    "processes, every other process closes its own too (asked through the bus)")


class ReconnectView(AdminView):
    path = "/admin/users/{id}/reconnect"

    @endpoint("Ask every open websocket of a user to reconnect", response=ReconnectOut, errors=(403, 404),
              description="Each socket gets `goodbye {code: 1012, reconnect: true}` and is closed with 1012 "
                          "(service restart), on every server process; clients reconnect and resume with `since`, "
                          "losing nothing. For "
                          "operations: moving clients after a deploy, or making a user's tabs re-check access.")
    async def post(self) -> ReconnectOut:
        return ReconnectOut(closed=await self.admin.reconnect_user(self.principal, self.user_id()))


class StatsView(AdminView):
    path = "/admin/stats"

    @endpoint("Counts of the whole system and live numbers of every server process", response=StatsOut,
              errors=(403,),
              description="Database counts are global. `live_sockets`, `active_runs` and `running_tasks` are "
                          "summed over every process of the deployment, asked over the event bus as of now "
                          "(`processes` lists each one's own, the same numbers as its `chatsvc_websockets`, "
                          "`chatsvc_active_runs` and `chatsvc_running_tasks` gauges).")
    async def get(self) -> StatsOut:
        async with self.db.read() as s:
            await authz.require_permission(s, self.principal, ADMIN)
            counts = await stats.system_counts(s)
        answers = await self.app[keys.CLUSTER].ask("stats", {})
        processes = [{"process": name, **numbers} for name, numbers in answers.by_process.items()]
        return StatsOut.model_validate({
            **counts, "tasks": sum(counts["tasks_by_status"].values()),
            **{key: sum(int(p[key]) for p in processes) for key in ("live_sockets", "active_runs", "running_tasks")},
            "processes": processes, "processes_missing": answers.missing,
        })


class AdminTasksView(AdminView):
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


VIEWS = [UsersView, UserView, ReconnectView, StatsView, AdminTasksView]
