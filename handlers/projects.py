"""Projects: create (needs the global `projects.create` permission), list mine, read, rename, delete.

Commands are ProjectService calls (chatsvc/services/projects.py says who may do what); reads stay here.
"""

from __future__ import annotations

from typing import Any

from chatsvc import authz, keys
from chatsvc.errors import NotFound
from chatsvc.schemas import Page, PageQuery
from chatsvc.schemas.projects import ProjectCreate, ProjectOut, ProjectUpdate
from chatsvc.services.projects import event_json, project_json
from chatsvc.views import ProjectScopedView, endpoint
from storage import projects
from storage.db import opened_at


class ProjectsView(ProjectScopedView):
    path = "/projects"

    @endpoint("Create a project; you become its owner", body=ProjectCreate, response=ProjectOut, status=201,
              errors=(403,), description="Needs the global `projects.create` permission.")
    async def post(self, body: ProjectCreate) -> ProjectOut:
        return await self.projects.create(self.principal, name=body.name, description=body.description)

    @endpoint("List my projects, newest first, each with my role", query=PageQuery, response=Page[ProjectOut],
              description="A superuser sees every project (with `my_role: owner`).")
    async def get(self, query: PageQuery) -> dict[str, Any]:
        async with self.db.read() as s:
            everyone = self.principal.is_superuser
            rows, total = await projects.list_for(
                s, None if everyone else self.principal.user_id, limit=query.limit, offset=query.offset
            )
        items = [project_json(p, "owner" if everyone else role).model_dump(mode="json") for p, role in rows]
        return {"items": items, "total": total, "limit": query.limit, "offset": query.offset}


class ProjectView(ProjectScopedView):
    path = "/projects/{id}"

    @endpoint("Read a project", response=ProjectOut, errors=(404,))
    async def get(self) -> ProjectOut | dict[str, Any]:
        project_id = self.ident()
        cache = self.app[keys.ACCESS]
        cached, role = cache.project(project_id), authz.cached_role(self.principal, project_id)
        if cached is not None and role is not None:  # every page of a project asks: no database trip
            return {**cached, "my_role": role}
        async with self.db.read() as s:
            role = await authz.require_project(s, self.principal, project_id)
            project = await projects.get(s, project_id)
            if project is None:
                raise NotFound("No such project.")
            out = project_json(project, role)
            cache.remember_project(opened_at(s), event_json(out))
            return out

    @endpoint("Rename a project or change its description (owner)", body=ProjectUpdate, response=ProjectOut,
              errors=(403, 404), description="Absent fields stay as they are; an unchanged project keeps its "
                                             "version and publishes nothing.")
    async def patch(self, body: ProjectUpdate) -> ProjectOut:
        return await self.projects.update(self.principal, self.ident(), name=body.name,
                                          description=body.description,
                                          set_description="description" in body.model_fields_set)

    @endpoint("Delete a project and everything in it (owner)", status=204, errors=(403, 404))
    async def delete(self) -> None:
        await self.projects.delete(self.principal, self.ident())


VIEWS = [ProjectsView, ProjectView]
