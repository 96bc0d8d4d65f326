"""Document versions of a project and the requirements extracted from them.

Members read; editors and owners create, edit and delete (viewer 403, non-member 404). Numbers are 1, 2, 3...
per project; exactly one version is current whenever any exist; content never changes after creation.
Extraction runs in the cpu executor before the write transaction, so the database is never held while parsing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agent.requirements import extract_requirements
from chatsvc import authz, keys
from chatsvc.errors import NotFound, PayloadTooLarge, ValidationFailed
from chatsvc.events import project_topic, publish_resource
from chatsvc.schemas import Page, PageQuery, page_of
from chatsvc.schemas.artifacts import ArtifactOut
from chatsvc.schemas.documents import (
    MAX_CONTENT_BYTES,
    DocumentVersionCreate,
    DocumentVersionOut,
    DocumentVersionSummary,
    DocumentVersionUpdate,
    RequirementOut,
    RequirementQuery,
)
from chatsvc.views import ApiView, endpoint
from storage import artifacts, documents
from storage.blobs import BlobStore
from storage.models import DocumentVersion, new_id

MAX_MIB = MAX_CONTENT_BYTES // (1024 * 1024)


def summary_json(version: DocumentVersion) -> dict[str, Any]:
    """Return a version's JSON without content (lists and events)."""
    return DocumentVersionSummary.model_validate(version).model_dump(mode="json")


def extract_rows(version_id: str, content: str) -> list[dict[str, Any]]:
    """Extract requirements and build their rows (CPU-bound: run it in the cpu executor)."""
    return documents.requirement_rows(version_id, extract_requirements(content))


def read_text(blobs: BlobStore, sha256: str) -> tuple[str | None, str]:
    """Read an uploaded file as UTF-8 text (blocking: run it in the cpu executor); return (text, problem)."""
    try:
        data = blobs.read(sha256)
    except (OSError, ValueError):
        return None, "The file's content is not available."
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, "The file is not UTF-8 text."
    if "\x00" in text:
        return None, "The file is not text (it contains NUL bytes)."
    if not text.strip():
        return None, "The file is empty."
    return text, ""


class DocumentsView(ApiView):
    """Shared helpers of the document views."""

    tag = "documents"

    def ident(self) -> str:
        """Return the {id} path parameter; anything that cannot be an id is simply not found."""
        return self.match("id")

    def publish(self, project_id: str, kind: str, action: str, resource: dict[str, Any]) -> None:
        """Publish `<kind>.<action>` on the project topic after commit, with the caller as actor."""
        publish_resource(self.app[keys.EVENTS], [project_topic(project_id)], kind, action, resource,
                         actor=self.principal.user_id)


class ProjectVersionsView(DocumentsView):
    path = "/projects/{id}/document-versions"

    async def _source(self, project_id: str, body: DocumentVersionCreate) -> tuple[str, str]:
        """Authorize and return (title, content) from the body or the uploaded file."""
        async with self.db.read() as s:
            await authz.require_project(s, self.principal, project_id, need="editor")
            stored = await documents.file_in_project(s, body.file_id, project_id) if body.file_id else None
        if body.content is not None:
            if len(body.content.encode("utf-8")) > MAX_CONTENT_BYTES:
                raise PayloadTooLarge(f"A document may hold at most {MAX_MIB} MiB of text.")
            return body.title or "", body.content
        if stored is None:
            raise ValidationFailed.field(["body", "file_id"], "No such file in this project.")
        if stored.size > MAX_CONTENT_BYTES:
            raise ValidationFailed.field(["body", "file_id"], f"The file is larger than {MAX_MIB} MiB.")
        loop = asyncio.get_running_loop()
        text, problem = await loop.run_in_executor(
            self.app[keys.CPU_EXECUTOR], read_text, self.app[keys.BLOBS], stored.sha256)
        if text is None:
            raise ValidationFailed.field(["body", "file_id"], problem)
        return body.title or stored.filename[:300], text

    @endpoint("Create a document version from text or an uploaded file", body=DocumentVersionCreate,
              response=DocumentVersionOut, status=201, errors=(403, 404, 413, 422),
              description="Exactly one of `content` or `file_id` (a UTF-8 text file of this project). The new "
                          "version gets the next number and becomes current unless `make_current` is false "
                          "(the first version is always current). Requirements are extracted at once; "
                          f"content is limited to {MAX_MIB} MiB (413 inline, 422 for a file). Editor or above.")
    async def post(self, body: DocumentVersionCreate) -> DocumentVersionOut:
        project_id = self.ident()
        title, content = await self._source(project_id, body)
        loop = asyncio.get_running_loop()
        version_id = new_id()
        rows = await loop.run_in_executor(self.app[keys.CPU_EXECUTOR], extract_rows, version_id, content)
        async with self.db.write() as s:
            await authz.require_project(s, self.principal, project_id, need="editor")
            if not await documents.lock_project(s, project_id):
                raise NotFound("No such project.")
            make_current = body.make_current or await documents.current(s, project_id) is None
            demoted = await documents.demote_current(s, project_id) if make_current else []
            version = await documents.create(
                s, version_id=version_id, project_id=project_id, number=await documents.next_number(s, project_id),
                title=title, content=content, notes=body.notes, is_current=make_current,
                created_by=self.principal.user_id, source_file_id=body.file_id, rows=rows,
            )
            out = DocumentVersionOut.model_validate(version)
            demoted_json = [summary_json(row) for row in demoted]
        self.publish(project_id, "document_version", "created", summary_json(version))
        for resource in demoted_json:
            self.publish(project_id, "document_version", "updated", resource)
        return out

    @endpoint("List a project's document versions, newest first (without content)", query=PageQuery,
              response=Page[DocumentVersionSummary], errors=(404,))
    async def get(self, query: PageQuery) -> dict[str, Any]:
        project_id = self.ident()
        async with self.db.read() as s:
            await authz.require_project(s, self.principal, project_id)
            rows, total = await documents.list_versions(s, project_id, query.limit, query.offset)
            return page_of(DocumentVersionSummary, rows, total, query)


class CurrentVersionView(DocumentsView):
    path = "/projects/{id}/document-versions/current"

    @endpoint("Read the project's current document version (with content)", response=DocumentVersionOut,
              errors=(404,), description="404 when the project has no document version yet.")
    async def get(self) -> DocumentVersionOut:
        project_id = self.ident()
        async with self.db.read() as s:
            await authz.require_project(s, self.principal, project_id)
            version = await documents.current(s, project_id)
            if version is None:
                raise NotFound("This project has no document version yet.")
            return DocumentVersionOut.model_validate(version)


class VersionView(DocumentsView):
    path = "/document-versions/{id}"

    @endpoint("Read a document version with its content", response=DocumentVersionOut, errors=(404,))
    async def get(self) -> DocumentVersionOut:
        async with self.db.read() as s:
            await authz.require_document_version(s, self.principal, self.ident())
            version = await documents.get(s, self.ident())
            if version is None:
                raise NotFound("No such document version.")
            return DocumentVersionOut.model_validate(version)

    @endpoint("Rename, annotate or make current a document version", body=DocumentVersionUpdate,
              response=DocumentVersionOut, errors=(403, 404, 422),
              description="Content is immutable (sending it is a 422): create a new version instead. "
                          "`is_current: true` makes the previous current version non-current (it gets its "
                          "own `document_version.updated` event). Editor or above.")
    async def patch(self, body: DocumentVersionUpdate) -> DocumentVersionOut:
        async with self.db.write() as s:
            project_id = await authz.require_document_version(s, self.principal, self.ident(), need="editor")
            await documents.lock_project(s, project_id)
            version = await documents.get_locked(s, self.ident())
            if version is None:
                raise NotFound("No such document version.")
            before = version.version
            if body.title is not None:
                version.title = body.title
            if body.notes is not None:
                version.notes = body.notes
            demoted: list[DocumentVersion] = []
            if body.is_current and not version.is_current:
                demoted = await documents.demote_current(s, project_id, keep_id=version.id)
                version.is_current = True
            await s.flush()
            out = DocumentVersionOut.model_validate(version)
            demoted_json = [summary_json(row) for row in demoted]
        if out.version != before:
            self.publish(project_id, "document_version", "updated", summary_json(version))
        for resource in demoted_json:
            self.publish(project_id, "document_version", "updated", resource)
        return out

    @endpoint("Delete a document version and its requirements", status=204, errors=(403, 404),
              description="Its artifacts stay, unlinked (`document_version_id: null`). Deleting the current "
                          "version makes the highest-numbered remaining one current. Editor or above.")
    async def delete(self) -> None:
        async with self.db.write() as s:
            project_id = await authz.require_document_version(s, self.principal, self.ident(), need="editor")
            await documents.lock_project(s, project_id)
            version = await documents.get_locked(s, self.ident())
            if version is None:
                raise NotFound("No such document version.")
            resource = summary_json(version)
            detached = [ArtifactOut.model_validate(a).model_dump(mode="json")
                        for a in await artifacts.detach_from_version(s, version.id)]
            await documents.delete_version(s, version.id)
            promoted = await documents.promote_newest(s, project_id) if version.is_current else None
            promoted_json = summary_json(promoted) if promoted is not None else None
        self.publish(project_id, "document_version", "deleted", resource)
        for artifact in detached:
            self.publish(project_id, "artifact", "updated", artifact)
        if promoted_json is not None:
            self.publish(project_id, "document_version", "updated", promoted_json)


class RequirementsView(DocumentsView):
    path = "/document-versions/{id}/requirements"

    @endpoint("List a document version's requirements in document order", query=RequirementQuery,
              response=Page[RequirementOut], errors=(404,))
    async def get(self, query: RequirementQuery) -> dict[str, Any]:
        async with self.db.read() as s:
            await authz.require_document_version(s, self.principal, self.ident())
            rows, total = await documents.list_requirements(s, self.ident(), query.limit, query.offset)
            return page_of(RequirementOut, rows, total, query)


VIEWS = [ProjectVersionsView, CurrentVersionView, VersionView, RequirementsView]
