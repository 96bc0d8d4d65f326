"""Artifacts of a project: generated test cases, coverage reports, notes and other typed JSON snapshots.

Members read; editors and owners create, change and delete (viewer 403, non-member 404). The content of
`test_cases` and `coverage_report` is validated against DESIGN §9 (chatsvc.schemas.artifacts), off the event
loop, on create and on every content change; other types hold free JSON. The type never changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz, keys
from chatsvc.errors import NotFound, ValidationFailed
from chatsvc.events import project_topic, publish_resource
from chatsvc.schemas import Page, page_of
from chatsvc.schemas.artifacts import (
    ArtifactCreate,
    ArtifactOut,
    ArtifactQuery,
    ArtifactTypeQuery,
    ArtifactUpdate,
    artifact_json,
    validate_content,
)
from chatsvc.views import ApiView, endpoint
from storage import artifacts, documents
from storage.models import Artifact

TYPES_NOTE = ("`test_cases` and `coverage_report` content is validated (DESIGN §9); `note` and any other "
              "`[a-z][a-z0-9_]{0,39}` type hold free JSON.")


class ArtifactsBase(ApiView):
    """Shared helpers of the artifact views."""

    tag = "artifacts"

    def ident(self) -> str:
        """Return the {id} path parameter; anything that cannot be an id is simply not found."""
        return self.match("id")

    def publish(self, project_id: str, action: str, resource: dict[str, Any]) -> None:
        """Publish `artifact.<action>` on the project topic after commit, with the caller as actor."""
        publish_resource(self.app[keys.EVENTS], [project_topic(project_id)], "artifact", action, resource,
                         actor=self.principal.user_id)

    async def checked_content(self, artifact_type: str, content: Any) -> Any:
        """Validate content for its type in the cpu executor; a 422 locates the bad field under body.content."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.app[keys.CPU_EXECUTOR], validate_content, artifact_type, content)
        except ValidationError as exc:
            raise ValidationFailed.from_pydantic(exc, ("body", "content")) from None
        except ValueError as exc:
            raise ValidationFailed.field(["body", "content"], str(exc)) from None

    async def authorized(self, s: AsyncSession, need: str = "viewer") -> Artifact:
        """Load the artifact in the path and authorize on its project; 404 when unknown or not visible."""
        artifact = await artifacts.get(s, self.ident())
        if artifact is None:
            raise NotFound("No such artifact.")
        try:
            await authz.require_project(s, self.principal, artifact.project_id, need)
        except NotFound:
            raise NotFound("No such artifact.") from None
        return artifact


class ProjectArtifactsView(ArtifactsBase):
    path = "/projects/{id}/artifacts"

    @endpoint("Create an artifact in a project", body=ArtifactCreate, response=ArtifactOut, status=201,
              errors=(403, 404, 422),
              description=TYPES_NOTE + " `document_version_id`, when given, must be a version of the same "
                          "project (else 422). Editor or above.")
    async def post(self, body: ArtifactCreate) -> ArtifactOut:
        project_id = self.ident()
        async with self.db.read() as s:
            await authz.require_project(s, self.principal, project_id, need="editor")
        content = await self.checked_content(body.type, body.content)
        async with self.db.write() as s:
            await authz.require_project(s, self.principal, project_id, need="editor")
            if body.document_version_id is not None:
                if await documents.project_of(s, body.document_version_id) != project_id:
                    raise ValidationFailed.field(["body", "document_version_id"],
                                                 "No such document version in this project.")
            artifact = await artifacts.create(
                s, project_id=project_id, type=body.type, name=body.name, content=content,
                created_by=self.principal.user_id, document_version_id=body.document_version_id,
            )
            out = ArtifactOut.model_validate(artifact)
        self.publish(project_id, "created", out.model_dump(mode="json"))
        return out

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
            return ArtifactOut.model_validate(await self.authorized(s))

    @endpoint("Rename an artifact or replace its content", body=ArtifactUpdate, response=ArtifactOut,
              errors=(403, 404, 422), description=TYPES_NOTE + " Editor or above.")
    async def patch(self, body: ArtifactUpdate) -> ArtifactOut:
        async with self.db.read() as s:
            artifact_type = (await self.authorized(s, need="editor")).type
        content = await self.checked_content(artifact_type, body.content) if body.content is not None else None
        async with self.db.write() as s:
            await self.authorized(s, need="editor")
            artifact = await artifacts.get_fresh(s, self.ident())
            if artifact is None:
                raise NotFound("No such artifact.")
            before = artifact.version
            if body.name is not None:
                artifact.name = body.name
            if content is not None:
                artifact.content = content
            await s.flush()
            out = ArtifactOut.model_validate(artifact)
        if out.version != before:
            self.publish(out.project_id, "updated", out.model_dump(mode="json"))
        return out

    @endpoint("Delete an artifact", status=204, errors=(403, 404), description="Editor or above.")
    async def delete(self) -> None:
        async with self.db.write() as s:
            artifact = await self.authorized(s, need="editor")
            resource = artifact_json(artifact)
            await artifacts.delete_artifact(s, artifact.id)
        self.publish(resource["project_id"], "deleted", resource)


VIEWS = [ProjectArtifactsView, VersionArtifactsView, AllArtifactsView, ArtifactView]
