"""Document versions of a project and the requirements extracted from them, a preview of what a new version
would hold (nothing saved) and the diff of two versions.

Commands, the preview and the diff are DocumentService calls (chatsvc/services/documents.py says who may do
what); the other reads stay here. The preview and the diff answer JSON the service encoded off the loop (a
document may hold 30 000 requirements).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatsvc import authz, keys
from chatsvc.errors import NotFound
from chatsvc.schemas import Page, PageQuery, page_of
from chatsvc.schemas.documents import (
    DocumentDiff,
    DocumentDiffQuery,
    DocumentVersionCreate,
    DocumentVersionOut,
    DocumentVersionSummary,
    DocumentVersionUpdate,
    RequirementOut,
    RequirementQuery,
    RequirementsPreview,
)
from chatsvc.services.documents import MAX_MIB, DocumentService
from chatsvc.views import ApiView, endpoint
from storage import documents


class DocumentsView(ApiView):
    """Shared helpers of the document views."""

    tag = "documents"

    def ident(self) -> str:
        """Return the {id} path parameter; anything that cannot be an id is simply not found."""
        return self.match("id")

    @property
    def documents(self) -> DocumentService:
        return self.app[keys.SERVICES].documents


class ProjectVersionsView(DocumentsView):
    path = "/projects/{id}/document-versions"

    @endpoint("Create a document version from text or an uploaded file", body=DocumentVersionCreate,
              response=DocumentVersionOut, status=201, errors=(403, 404, 413, 422),
              description="Exactly one of `content` or `file_id` (a UTF-8 text file of this project). The new "
                          "version gets the next number and becomes current unless `make_current` is false "
                          "(the first version is always current). Requirements are extracted at once; "
                          f"content is limited to {MAX_MIB} MiB (413 inline, 422 for a file). Editor or above.")
    async def post(self, body: DocumentVersionCreate) -> DocumentVersionOut:
        return await self.documents.create(self.principal, self.ident(), title=body.title, content=body.content,
                                           file_id=body.file_id, notes=body.notes, make_current=body.make_current)

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
        return await self.documents.update(self.principal, self.ident(), title=body.title, notes=body.notes,
                                           make_current=bool(body.is_current))

    @endpoint("Delete a document version and its requirements", status=204, errors=(403, 404),
              description="Its artifacts stay, unlinked (`document_version_id: null`). Deleting the current "
                          "version makes the highest-numbered remaining one current. Editor or above.")
    async def delete(self) -> None:
        await self.documents.delete(self.principal, self.ident())


class RequirementsView(DocumentsView):
    path = "/document-versions/{id}/requirements"

    @endpoint("List a document version's requirements in document order", query=RequirementQuery,
              response=Page[RequirementOut], errors=(404,))
    async def get(self, query: RequirementQuery) -> dict[str, Any]:
        async with self.db.read() as s:
            await authz.require_document_version(s, self.principal, self.ident())
            rows, total = await documents.list_requirements(s, self.ident(), query.limit, query.offset)
            return page_of(RequirementOut, rows, total, query)


class PreviewView(DocumentsView):
    path = "/projects/{id}/document-versions/preview"

    @endpoint("Show the requirements a new version would get, without saving it", body=DocumentVersionCreate,
              response=RequirementsPreview, errors=(403, 404, 413, 422),
              description="The same body, validation and limits as creating a version; answers the requirements "
                          "in document order, with the uids a version created now would get (carried over from "
                          "the current version where a requirement was edited). Nothing is stored and no event "
                          "is published. Editor or above.")
    async def post(self, body: DocumentVersionCreate) -> web.Response:
        text = await self.documents.preview(self.principal, self.ident(), title=body.title, content=body.content,
                                            file_id=body.file_id)
        return web.Response(text=text, content_type="application/json")


class DiffView(DocumentsView):
    path = "/document-versions/{id}/diff"

    @endpoint("Compare a document version with another one of its project", query=DocumentDiffQuery,
              response=DocumentDiff, errors=(404, 422),
              description="Requirements are matched by uid (a generated uid is carried across versions when the "
                          "requirement is edited): `added`, `changed` (same uid, other fingerprint; before and "
                          "after), `removed`, and the test cases of the project's test_cases artifacts that refer "
                          "to a changed requirement without its new fingerprint (`suspect_tests`). `against` "
                          "defaults to the version numbered just before (none: everything is added); a version "
                          "of another project is a 404.")
    async def get(self, query: DocumentDiffQuery) -> web.Response:
        text = await self.documents.diff(self.principal, self.ident(), query.against)
        return web.Response(text=text, content_type="application/json")


VIEWS = [ProjectVersionsView, PreviewView, CurrentVersionView, VersionView, RequirementsView, DiffView]
