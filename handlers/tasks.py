"""Background tasks: list, read, cancel (tasks are created only by the bot endpoints and agent tools)."""

from __future__ import annotations

from typing import Any

from chatsvc import authz, keys
from chatsvc.schemas import Page, page_of
from chatsvc.schemas.tasks import TaskListQuery, TaskOut
from chatsvc.views import ApiView, endpoint
from storage import tasks as repo


class TasksView(ApiView):
    path = "/tasks"
    tag = "tasks"

    @endpoint("List tasks of the projects I belong to (newest first)", query=TaskListQuery, response=Page[TaskOut],
              errors=(404,), description="`project_id` narrows the list to one of my projects (404 for another "
                                         "or unknown one); `status` to one status.")
    async def get(self, query: TaskListQuery) -> dict[str, Any]:
        async with self.db.read() as s:
            if query.project_id:
                await authz.require_project(s, self.principal, query.project_id)
                project_ids: list[str] | None = [query.project_id]
            else:
                project_ids = await authz.visible_project_ids(s, self.principal)
            rows, total = await repo.list_tasks(s, project_ids=project_ids, status=query.status,
                                                limit=query.limit, offset=query.offset)
        return page_of(TaskOut, rows, total, query)


async def load_task(view: ApiView, task_id: str) -> TaskOut:
    """Read a task the caller may see (404 otherwise, as for its project)."""
    async with view.db.read() as s:
        return TaskOut.model_validate(await authz.require_task(s, view.principal, task_id))


class TaskView(ApiView):
    path = "/tasks/{id}"
    tag = "tasks"

    @endpoint("Get a task with its progress and result", response=TaskOut, errors=(404,))
    async def get(self) -> TaskOut:
        return await load_task(self, self.match("id"))


class TaskCancelView(ApiView):
    path = "/tasks/{id}/cancel"
    tag = "tasks"

    @endpoint("Cancel a task: at once when queued, at its next step when running", response=TaskOut, status=202,
              errors=(403, 404))
    async def post(self) -> TaskOut:
        return TaskOut.model_validate(await self.app[keys.SERVICES].bot.cancel(self.principal, self.match("id")))


VIEWS = [TasksView, TaskView, TaskCancelView]
