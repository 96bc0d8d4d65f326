"""Projects: create (needs the global `projects.create` permission), list mine, read, rename, delete.

Who may do what (authz.require_project decides; a non-member gets 404 for the project and everything
in it): any member reads; only an owner changes or deletes. A superuser acts as owner everywhere.
Deleting a project removes everything in it (the database cascades), then the blobs no file row uses.
"""

from __future__ import annotations

from typing import Any

from chatsvc import authz, keys
from chatsvc.errors import NotFound
from chatsvc.events import project_topic, user_topic
from chatsvc.schemas import Page, PageQuery
from chatsvc.schemas.projects import ProjectCreate, ProjectOut, ProjectUpdate
from chatsvc.services.files import collect_blobs
from chatsvc.views import ProjectScopedView, endpoint
from storage import files, projects
from storage.models import Project


def project_json(project: Project, my_role: str | None = None) -> ProjectOut:
    """Serialise a project, with the caller's role when known."""
    out = ProjectOut.model_validate(project)
    out.my_role = my_role  # type: ignore[assignment]
    return out


def event_json(out: ProjectOut) -> dict[str, Any]:
    """The project as events carry it: without `my_role`, which differs per reader."""
    return out.model_dump(mode="json", exclude={"my_role"})


class ProjectsView(ProjectScopedView):
    path = "/projects"

    @endpoint("Create a project; you become its owner", body=ProjectCreate, response=ProjectOut, status=201,
              errors=(403,), description="Needs the global `projects.create` permission.")
    async def post(self, body: ProjectCreate) -> ProjectOut:
        async with self.db.write() as s:
            await authz.require_permission(s, self.principal, "projects.create")
            project = await projects.create(s, name=body.name, description=body.description,
                                            created_by=self.principal.user_id)
            out = project_json(project, "owner")
        self.publish([project_topic(project.id), user_topic(self.principal.user_id)], "project", "created",
                     event_json(out))
        return out

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
    async def get(self) -> ProjectOut:
        async with self.db.read() as s:
            role = await authz.require_project(s, self.principal, self.ident())
            project = await projects.get(s, self.ident())
            if project is None:
                raise NotFound("No such project.")
            return project_json(project, role)

    @endpoint("Rename a project or change its description (owner)", body=ProjectUpdate, response=ProjectOut,
              errors=(403, 404), description="Absent fields stay as they are; an unchanged project keeps its "
                                             "version and publishes nothing.")
    async def patch(self, body: ProjectUpdate) -> ProjectOut:
        async with self.db.write() as s:
            role = await authz.require_project(s, self.principal, self.ident(), need="owner")
            project = await projects.lock(s, self.ident())
            if project is None:
                raise NotFound("No such project.")
            before = project.version
            if body.name is not None:
                project.name = body.name
            if "description" in body.model_fields_set:
                project.description = body.description or ""
            await s.flush()
            out = project_json(project, role)
        if out.version != before:
            self.publish([project_topic(out.id)], "project", "updated", event_json(out))
        return out

    @endpoint("Delete a project and everything in it (owner)", status=204, errors=(403, 404))
    async def delete(self) -> None:

        async with self.db.write() as s:
            await authz.require_project(s, self.principal, self.ident(), need="owner")
            project = await projects.lock(s, self.ident())
            if project is None:
                raise NotFound("No such project.")
            members = await projects.member_user_ids(s, project.id)
            digests = await files.digests_in_project(s, project.id)
            out = project_json(project)
            await projects.delete_project(s, project.id)
        topics = [project_topic(out.id), *(user_topic(uid) for uid in members)]
        self.publish(topics, "project", "deleted", event_json(out))
        await collect_blobs(self.app[keys.DB], self.app[keys.BLOBS], self.app[keys.CPU_EXECUTOR], digests)


VIEWS = [ProjectsView, ProjectView]
