"""ArtifactService: create, change and delete a project's artifacts (test cases, coverage reports, notes...).

Members read; editors and owners write (viewer 403, non-member 404). `test_cases` and `coverage_report`
content is validated (DESIGN §9) in the cpu executor, before the write transaction.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Any

from pydantic import ValidationError

from chatsvc import authz
from chatsvc.errors import NotFound, ValidationFailed
from chatsvc.events import EventBus, fits, project_topic, publish_resource
from chatsvc.schemas.artifacts import ArtifactOut, artifact_json, validate_content
from chatsvc.security import Principal
from storage import artifacts, documents
from storage.db import Database

INLINE_VALIDATION_CHARS = 4096  # content up to this much JSON is validated on the loop (well under 1 ms)


class ArtifactService:
    """Artifacts: create in a project, rename or replace content, delete."""

    def __init__(self, *, db: Database, bus: EventBus, cpu: Executor) -> None:
        self.db = db
        self.bus = bus
        self.cpu = cpu

    def _publish(self, principal: Principal, project_id: str, action: str, resource: dict[str, Any]) -> None:
        publish_resource(self.bus, [project_topic(project_id)], "artifact", action, resource, principal.user_id)

    async def _checked(self, artifact_type: str, content: Any) -> Any:
        """Validate content for its type, in the cpu executor unless it is small (a thread hop costs more than
        checking a few KiB); a 422 locates the bad field under body.content."""
        try:
            if fits(content, INLINE_VALIDATION_CHARS):
                return validate_content(artifact_type, content)
            return await asyncio.get_running_loop().run_in_executor(self.cpu, validate_content, artifact_type,
                                                                    content)
        except ValidationError as exc:
            raise ValidationFailed.from_pydantic(exc, ("body", "content")) from None
        except ValueError as exc:
            raise ValidationFailed.field(["body", "content"], str(exc)) from None

    async def create(self, principal: Principal, project_id: str, *, type: str, name: str, content: Any,
                     document_version_id: str | None) -> ArtifactOut:
        """Create an artifact (editor); a `document_version_id` must be a version of the same project."""
        if not authz.cached_role_allows(principal, project_id, "editor"):  # refuse before validating
            async with self.db.read() as s:
                await authz.require_project(s, principal, project_id, need="editor")
        checked = await self._checked(type, content)
        async with self.db.write() as s:  # the check that counts: in the write transaction, from the database
            await authz.require_project(s, principal, project_id, need="editor")
            if document_version_id is not None and await documents.project_of(s, document_version_id) != project_id:
                raise ValidationFailed.field(["body", "document_version_id"],
                                             "No such document version in this project.")
            artifact = await artifacts.create(
                s, project_id=project_id, type=type, name=name, content=checked, created_by=principal.user_id,
                document_version_id=document_version_id)
        out = ArtifactOut.model_validate(artifact)  # after commit: the single writer is free for the next one
        self._publish(principal, project_id, "created", out.model_dump(mode="json"))
        return out

    async def update(self, principal: Principal, artifact_id: str, *, name: str | None,
                     content: Any | None) -> ArtifactOut:
        """Rename or replace the content (editor); an unchanged artifact keeps its version, publishes nothing."""
        async with self.db.read() as s:
            artifact_type = (await authz.require_artifact(s, principal, artifact_id, need="editor")).type
        checked = await self._checked(artifact_type, content) if content is not None else None
        async with self.db.write() as s:
            await authz.require_artifact(s, principal, artifact_id, need="editor")
            artifact = await artifacts.get_fresh(s, artifact_id)
            if artifact is None:
                raise NotFound("No such artifact.")
            before = artifact.version
            if name is not None:
                artifact.name = name
            if checked is not None:
                artifact.content = checked
            await s.flush()
            out = ArtifactOut.model_validate(artifact)
        if out.version != before:
            self._publish(principal, out.project_id, "updated", out.model_dump(mode="json"))
        return out

    async def delete(self, principal: Principal, artifact_id: str) -> None:
        async with self.db.write() as s:
            artifact = await authz.require_artifact(s, principal, artifact_id, need="editor")
            resource = artifact_json(artifact)
            await artifacts.delete_artifact(s, artifact.id)
        self._publish(principal, resource["project_id"], "deleted", resource)
