"""Artifacts of a project: generated test cases, coverage reports, notes and other typed JSON snapshots.

Members read; editors and owners create, change and delete (viewer 403, non-member 404). The content of
`test_cases` and `coverage_report` is validated against DESIGN §9 (chatsvc.schemas.artifacts), off the event
loop, on create and on every content change; other types hold free JSON. The type never changes.

Interchange: POST /projects/{id}/artifacts/import (editor) turns a TestRail, Xray or Zephyr Scale CSV or a
Gherkin feature, given as text or as an uploaded file of the project, into a new `test_cases` artifact; GET
/artifacts/{id}/export (reader) writes test cases in those shapes and a coverage report as CSV, Markdown or a
standalone HTML page, always as an attachment (nosniff, sandboxed). Parsing and writing run in the cpu executor;
the rules are agent.interchange's and agent.coverage_export's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from agent.coverage_export import REPORT_FORMATS
from agent.interchange import CASE_FORMATS
from chatsvc import authz, keys
from chatsvc.bodies import RawBody
from chatsvc.errors import PayloadTooLarge, ValidationFailed
from chatsvc.schemas import Page, page_of
from chatsvc.schemas.artifacts import (
    ArtifactCreate,
    ArtifactOut,
    ArtifactQuery,
    ArtifactTypeQuery,
    ArtifactUpdate,
)
from chatsvc.schemas.documents import MAX_CONTENT_BYTES
from chatsvc.schemas.files import content_disposition, sanitize_filename
from chatsvc.schemas.interchange import MEDIA_TYPES, ArtifactImport, ArtifactImportOut, ExportQuery
from chatsvc.services.artifact_jobs import RAW_BODY_BYTES
from chatsvc.services.artifacts import ArtifactService
from chatsvc.services.documents import read_text
from chatsvc.views import ApiView, artifact_response, endpoint
from storage import agentdata, artifacts, documents

MAX_MIB = MAX_CONTENT_BYTES // (1024 * 1024)
# Artifact type -> its export formats (a worker writes them: agent/jobs.py `export`).
EXPORT_FORMATS: dict[str, tuple[str, ...]] = {"test_cases": CASE_FORMATS, "coverage_report": REPORT_FORMATS}
IMPORT_NOTE = (
    "Send the file's text as `content`, or the id of a file uploaded to the project (POST "
    "/projects/{id}/files) as `file_id`. `format` (testrail, xray, zephyr, gherkin) is detected from the file "
    "name and header row when absent. Answers the created `test_cases` artifact with `import_summary`: what "
    "was found, imported and skipped (and why) and the warnings. A file that cannot be imported (not a test "
    "suite, unknown columns, malformed CSV, no case left) is a 422 whose details name the rows. At most "
    f"{MAX_MIB} MiB of text (413 for `content`, 422 for a larger file). Editor or above.")
EXPORT_NOTE = (
    "`test_cases`: testrail, xray or zephyr (text/csv; charset=utf-8) or gherkin (text/plain, a .feature file); "
    "`coverage_report`: csv (text/csv), markdown (text/markdown) or html (text/html, a standalone page). Served "
    "as an attachment. CSV cells starting with =, +, -, @, a tab or a CR are prefixed with '. Another format, or "
    "another artifact type, is a 422.")

EXPORT_TYPES = tuple(sorted({media for media, _ext in MEDIA_TYPES.values()}))
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
              errors=(403, 404, 422), raw_over=RAW_BODY_BYTES,
              description=TYPES_NOTE + " `document_version_id`, when given, must be a version of the same "
                          "project (else 422). Editor or above.")
    async def post(self, body: ArtifactCreate | RawBody) -> ArtifactOut | web.StreamResponse:
        if isinstance(body, RawBody):  # too big to decode here: a worker decodes and checks it
            artifact, content_text = await self.artifacts.create_raw(self.principal, self.ident(), body)
            return await artifact_response(self.request, artifact, content_text, status=201)
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
    async def get(self) -> web.StreamResponse:
        async with self.db.read() as s:
            artifact = await authz.require_artifact_head(s, self.principal, self.ident())
            pieces = await agentdata.content_pieces(s, artifact.id)
        return await artifact_response(self.request, artifact, pieces)

    @endpoint("Rename an artifact or replace its content", body=ArtifactUpdate, response=ArtifactOut,
              errors=(403, 404, 409, 422), raw_over=RAW_BODY_BYTES, description=TYPES_NOTE + " Editor or above.")
    async def patch(self, body: ArtifactUpdate | RawBody) -> web.StreamResponse:
        content_text: str | list[str]
        if isinstance(body, ArtifactUpdate) and body.content is None:  # a rename: the content is not decoded
            artifact, content_text = await self.artifacts.rename(self.principal, self.ident(), body.name)
        else:  # a worker checks the new content against the stored one (neither is decoded here)
            raw = body if isinstance(body, RawBody) else RawBody(await self.request.read())
            artifact, content_text = await self.artifacts.replace(self.principal, self.ident(), raw)
        return await artifact_response(self.request, artifact, content_text)

    @endpoint("Delete an artifact", status=204, errors=(403, 404), description="Editor or above.")
    async def delete(self) -> None:
        await self.artifacts.delete(self.principal, self.ident())


class ArtifactImportView(ArtifactsBase):
    path = "/projects/{id}/artifacts/import"

    @endpoint("Import a test suite (TestRail, Xray or Zephyr CSV, or Gherkin) as a test_cases artifact",
              body=ArtifactImport, response=ArtifactImportOut, status=201, errors=(403, 404, 413, 422),
              description=IMPORT_NOTE)
    async def post(self, body: ArtifactImport) -> web.StreamResponse:
        project_id = self.ident()
        text, filename, source = await self._text(project_id, body)
        artifact, summary, content_text = await self.artifacts.import_cases(
            self.principal, project_id, text=text, fmt=body.format, filename=filename, name=body.name,
            document_version_id=body.document_version_id, source_field=source)
        return await artifact_response(self.request, artifact, content_text, status=201, import_summary=summary)

    async def _text(self, project_id: str, body: ArtifactImport) -> tuple[str, str | None, str]:
        """Return (text, file name, body field) of the suite: the inline text or the project's uploaded file."""
        if body.content is not None:
            if len(body.content.encode("utf-8")) > MAX_CONTENT_BYTES:
                raise PayloadTooLarge(f"A test suite may hold at most {MAX_MIB} MiB of text.")
            return body.content, body.filename, "content"
        assert body.file_id is not None  # one of the two, by the schema
        async with self.db.read() as s:
            await authz.require_project(s, self.principal, project_id, need="editor")
            stored = await documents.file_in_project(s, body.file_id, project_id)
        if stored is None:
            raise ValidationFailed.field(["body", "file_id"], "No such file in this project.")
        if stored.size > MAX_CONTENT_BYTES:
            raise ValidationFailed.field(["body", "file_id"], f"The file is larger than {MAX_MIB} MiB.")
        text, problem = await asyncio.get_running_loop().run_in_executor(
            self.app[keys.CPU_EXECUTOR], read_text, self.app[keys.BLOBS], stored.sha256)
        if text is None:
            raise ValidationFailed.field(["body", "file_id"], problem)
        return text, body.filename or stored.filename, "file_id"


class ArtifactExportView(ArtifactsBase):
    path = "/artifacts/{id}/export"

    @endpoint("Export test cases (TestRail, Xray, Zephyr CSV or Gherkin) or a coverage report (CSV, Markdown, "
              "HTML) as a file", query=ExportQuery, produces=EXPORT_TYPES, errors=(404, 422),
              description=EXPORT_NOTE)
    async def get(self, query: ExportQuery) -> web.Response:
        name, text = await self.artifacts.export(self.principal, self.ident(), query.format, EXPORT_FORMATS)
        media, ext = MEDIA_TYPES[query.format]
        filename = sanitize_filename(name if name.lower().endswith(f".{ext}") else f"{name}.{ext}")
        return web.Response(text=text, content_type=media, charset="utf-8", headers={
            "Content-Disposition": content_disposition(filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
        })


VIEWS = [ProjectArtifactsView, ArtifactImportView, VersionArtifactsView, AllArtifactsView, ArtifactView,
         ArtifactExportView]
