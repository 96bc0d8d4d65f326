"""Artifacts of a project: generated test cases, coverage reports, notes and other typed JSON snapshots.

Members read; editors and owners create, change and delete (viewer 403, non-member 404). The content of
`test_cases` and `coverage_report` is validated against DESIGN §9 (chatsvc.schemas.artifacts), off the event
loop, on create and on every content change; other types hold free JSON. The type never changes.
"""

from __future__ import annotations

from typing import Any

from chatsvc import authz, keys
from chatsvc.schemas import Page, page_of
from chatsvc.schemas.artifacts import (
    ArtifactCreate,
    ArtifactOut,
    ArtifactQuery,
    ArtifactTypeQuery,
    ArtifactUpdate,
)
from chatsvc.services.artifacts import ArtifactService
from chatsvc.views import ApiView, endpoint
from storage import artifacts

TYPES_NOTE = ("`test_cases` and `coverage_report` content is validated (DESIGN §9); `note` and any other "
              "`[a-z][a-z0-9_]{0,39}` type hold free JSON.")


class ArtifactsBase(ApiView):
    """Shared helpers of the artifact views."""

    tag = "artifacts"

    def ident(self) -> str:
        """Return the {id} path parameter; anything that cannot be an id is simply not found."""
        return self.match("id")

    @property
    def artifacts(self) -> ArtifactService:
        return self.app[keys.SERVICES].artifacts


class ProjectArtifactsView(ArtifactsBase):
    path = "/projects/{id}/artifacts"

    @endpoint("Create an artifact in a project", body=ArtifactCreate, response=ArtifactOut, status=201,
              errors=(403, 404, 422),
              description=TYPES_NOTE + " `document_version_id`, when given, must be a version of the same "
                          "project (else 422). Editor or above.")
    async def post(self, body: ArtifactCreate) -> ArtifactOut:
        return await self.artifacts.create(self.principal, self.ident(), type=body.type, name=body.name,
                                           content=body.content, document_version_id=body.document_version_id)

    @endpoint("List a project's artifacts, newest first", query=ArtifactQuery, response=Page[ArtifactOut],
              errors=(404,))
    async def get(self, query: ArtifactQuery) -> dict[str, Any]:
        project_id = self.ident()
        async with self.db.read() as s:
            await authz.require_project(s, self.principal, project_id)
            rows, total = await artifacts.list_artifacts(
                s, project_id=project_id, type=query.type, document_version_id=query.document_version_id,
                limit=query.limit, offset=query.offset)
            return page_of(ArtifactOut, rows, total, query)


class VersionArtifactsView(ArtifactsBase):
    path = "/document-versions/{id}/artifacts"

    @endpoint("List the artifacts linked to a document version, newest first", query=ArtifactTypeQuery,
              response=Page[ArtifactOut], errors=(404,))
    async def get(self, query: ArtifactTypeQuery) -> dict[str, Any]:
        version_id = self.ident()
        async with self.db.read() as s:
            project_id = await authz.require_document_version(s, self.principal, version_id)
            rows, total = await artifacts.list_artifacts(
                s, project_id=project_id, document_version_id=version_id, type=query.type,
                limit=query.limit, offset=query.offset)
            return page_of(ArtifactOut, rows, total, query)


class AllArtifactsView(ArtifactsBase):
    path = "/artifacts"

    @endpoint("List artifacts across every project you can see, newest first", query=ArtifactTypeQuery,
              response=Page[ArtifactOut])
    async def get(self, query: ArtifactTypeQuery) -> dict[str, Any]:
        async with self.db.read() as s:
            project_ids = await authz.visible_project_ids(s, self.principal)
            rows, total = await artifacts.list_artifacts(
                s, project_ids=project_ids, all_projects=project_ids is None, type=query.type,
                limit=query.limit, offset=query.offset)
            return page_of(ArtifactOut, rows, total, query)


class ArtifactView(ArtifactsBase):
    path = "/artifacts/{id}"

    @endpoint("Read an artifact", response=ArtifactOut, errors=(404,))
    async def get(self) -> ArtifactOut:
        async with self.db.read() as s:
            return ArtifactOut.model_validate(await authz.require_artifact(s, self.principal, self.ident()))

    @endpoint("Rename an artifact or replace its content", body=ArtifactUpdate, response=ArtifactOut,
              errors=(403, 404, 422), description=TYPES_NOTE + " Editor or above.")
    async def patch(self, body: ArtifactUpdate) -> ArtifactOut:
        return await self.artifacts.update(self.principal, self.ident(), name=body.name, content=body.content)

    @endpoint("Delete an artifact", status=204, errors=(403, 404), description="Editor or above.")
    async def delete(self) -> None:
        await self.artifacts.delete(self.principal, self.ident())


VIEWS = [ProjectArtifactsView, VersionArtifactsView, AllArtifactsView, ArtifactView]
