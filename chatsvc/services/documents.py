"""DocumentService: create, change and delete a project's document versions, end to end.

Members read; editors and owners create, edit and delete (viewer 403, non-member 404). Numbers are 1, 2, 3...
per project; exactly one version is current whenever any exist; content never changes after creation.
Extraction runs before the write transaction, so the database is never held while parsing: a small document
in the cpu executor (a few ms), a bigger one in an agent worker process, because extraction is pure Python
that would hold the GIL for hundreds of ms on a thread of this process and starve its event loop. The
worker writes the requirements to a spool file; they are turned into rows here a slice at a time.

Identity (agent/identity.py): a new version's requirements are matched against the project's current version
(read before extraction; a version made current meanwhile by another request is not seen), and a matched
requirement with a generated uid keeps the uid it had, so an edit shows as a change (stale links, suspect
tests) rather than a removal and an addition. The matching runs off the loop: in the same cpu-executor step as
a small document's extraction, in the cpu executor after a big one's rows are read back.
`preview` runs all of this and saves nothing; `diff` compares two versions (agent.identity.diff_requirements)
in a worker process (agent/jobs.py `document_diff`), which also names the suspect tests.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Any

from agent import spool
from agent.identity import REQUIREMENT_FIELDS, carry_uids
from agent.requirements import extract_requirements
from chatsvc import authz
from chatsvc.agent_pool import AgentPool
from chatsvc.errors import NotFound, PayloadTooLarge, ValidationFailed
from chatsvc.events import EventBus, project_topic, publish_resource
from chatsvc.schemas.artifacts import artifact_json
from chatsvc.schemas.documents import MAX_CONTENT_BYTES, DocumentVersionOut, DocumentVersionSummary
from chatsvc.security import Principal
from storage import agentdata, artifacts, documents
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import DocumentVersion, new_id

MAX_MIB = MAX_CONTENT_BYTES // (1024 * 1024)
INLINE_EXTRACT_CHARS = 32 * 1024  # extracted in the cpu executor up to this (~4 ms); beyond, in a worker process
PER_LINE = 500  # requirements per spooled line: one slice of row building on the loop (~2 ms)


def summary_json(version: DocumentVersion) -> dict[str, Any]:
    """Return a version's JSON without content (lists and events)."""
    return DocumentVersionSummary.model_validate(version).model_dump(mode="json")


def extract_rows(version_id: str, content: str, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Extract requirements, build their rows and carry uids over (CPU-bound: run it in the cpu executor)."""
    rows = documents.requirement_rows(version_id, extract_requirements(content))
    carry_identity(previous, rows)
    return rows


def carry_identity(previous: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    """Give the rows of matched requirements their previous uid (CPU-bound: run it in the cpu executor)."""
    if previous and rows:
        for row, uid in zip(rows, carry_uids(previous, rows), strict=True):
            row["uid"] = uid


async def preview_json(rows: list[dict[str, Any]]) -> str:
    """The preview answer's JSON text: the requirements as RequirementOut, built and encoded PER_LINE rows per
    loop slice (one json call over 25 000 rows, even on a thread, would hold the GIL for tens of ms)."""
    pieces = ['{"requirements":[']
    for start in range(0, len(rows), PER_LINE):
        if start:
            pieces.append(",")
            await asyncio.sleep(0)
        part = [{f: row[f] for f in REQUIREMENT_FIELDS} for row in rows[start:start + PER_LINE]]
        pieces.append(spool.dumps(part)[1:-1])
    pieces.append(f'],"count":{len(rows)}}}')
    return "".join(pieces)


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


class DocumentService:
    """Document versions: create (from text or an uploaded file), rename/annotate/make current, delete."""

    def __init__(self, *, db: Database, bus: EventBus, blobs: BlobStore, cpu: Executor,
                 agents: AgentPool | None = None) -> None:
        self.db = db
        self.bus = bus
        self.blobs = blobs
        self.cpu = cpu
        self.agents = agents  # None: every document is extracted in the cpu executor

    def _publish(self, principal: Principal, project_id: str, kind: str, action: str,
                 resource: dict[str, Any]) -> None:
        publish_resource(self.bus, [project_topic(project_id)], kind, action, resource, principal.user_id)

    async def _source(self, principal: Principal, project_id: str, *, title: str | None, content: str | None,
                      file_id: str | None) -> tuple[str, str]:
        """Authorize (editor) and return (title, content) from the text or the uploaded file."""
        async with self.db.read() as s:
            await authz.require_project(s, principal, project_id, need="editor")
            stored = await documents.file_in_project(s, file_id, project_id) if file_id else None
        if content is not None:
            if len(content.encode("utf-8")) > MAX_CONTENT_BYTES:
                raise PayloadTooLarge(f"A document may hold at most {MAX_MIB} MiB of text.")
            return title or "", content
        if stored is None:
            raise ValidationFailed.field(["body", "file_id"], "No such file in this project.")
        if stored.size > MAX_CONTENT_BYTES:
            raise ValidationFailed.field(["body", "file_id"], f"The file is larger than {MAX_MIB} MiB.")
        text, problem = await asyncio.get_running_loop().run_in_executor(
            self.cpu, read_text, self.blobs, stored.sha256)
        if text is None:
            raise ValidationFailed.field(["body", "file_id"], problem)
        return title or stored.filename[:300], text

    async def create(self, principal: Principal, project_id: str, *, title: str | None, content: str | None,
                     file_id: str | None, notes: str, make_current: bool) -> DocumentVersionOut:
        """A new version with the next number; current unless `make_current` is false (the first always is)."""
        title, content = await self._source(principal, project_id, title=title, content=content, file_id=file_id)
        version_id = new_id()
        rows = await self._rows(version_id, content, await self._previous(project_id))
        async with self.db.write() as s:
            await authz.require_project(s, principal, project_id, need="editor")
            if not await documents.lock_project(s, project_id):
                raise NotFound("No such project.")
            becomes_current = make_current or await documents.current(s, project_id) is None
            demoted = await documents.demote_current(s, project_id) if becomes_current else []
            version = await documents.create(
                s, version_id=version_id, project_id=project_id, number=await documents.next_number(s, project_id),
                title=title, content=content, notes=notes, is_current=becomes_current,
                created_by=principal.user_id, source_file_id=file_id, rows=rows,
            )
            out = DocumentVersionOut.model_validate(version)
            demoted_json = [summary_json(row) for row in demoted]
        self._publish(principal, project_id, "document_version", "created", summary_json(version))
        for resource in demoted_json:
            self._publish(principal, project_id, "document_version", "updated", resource)
        await spool.release(rows)
        return out

    async def preview(self, principal: Principal, project_id: str, *, title: str | None, content: str | None,
                      file_id: str | None) -> str:
        """The requirements a new version of this content would get (uids carried as `create` would carry them),
        as the JSON text of `{requirements, count}`; saves and publishes nothing. Editor or above."""
        _title, content = await self._source(principal, project_id, title=title, content=content, file_id=file_id)
        rows = await self._rows(new_id(), content, await self._previous(project_id))
        text = await preview_json(rows)
        await spool.release(rows)
        return text

    async def diff(self, principal: Principal, version_id: str, against: str | None) -> str:
        """Compare a version with `against` (default: the version numbered before it; none: all added), as the
        JSON text of the diff; 404 for a version the caller cannot see or one of another project. Viewer.
        A worker compares them; the project's test cases are read (to name the suspect tests) only when a
        requirement changed."""
        async with self.db.read() as s:
            project_id = await authz.require_document_version(s, principal, version_id)
            if against is None:
                found = await documents.number_of(s, version_id)
                against = await documents.version_before(s, project_id, found[1]) if found else None
            elif await documents.project_of(s, against) != project_id:
                raise NotFound("No such document version to compare with in this project.")
            after = await agentdata.requirements_of(s, version_id)
            before = await agentdata.requirements_of(s, against) if against else []
        pool = self.agents
        assert pool is not None, "DocumentService needs the agent pool to compare versions"
        paths = {"before": pool.spool.path("before"), "after": pool.spool.path("after"), "out": pool.spool.path("diff")}
        contents: list[str] = []
        try:
            await pool.spool.write(paths["before"], await spool.encode_array(before))
            await pool.spool.write(paths["after"], await spool.encode_array(after))
            await spool.release(after)
            await spool.release(before)
            args = {**paths, "contents": contents, "from_version_id": against, "to_version_id": version_id}
            made = await pool.job("document_diff", args)
            if made["changed"]:
                async with self.db.read() as s:
                    await agentdata.spool_test_cases(s, project_id, pool.spool, contents)
                if contents:
                    await pool.job("document_diff", args)
            return await pool.spool.read(paths["out"])
        finally:
            await pool.spool.discard(*paths.values(), *contents)

    async def _previous(self, project_id: str) -> list[dict[str, Any]]:
        """The requirements of the project's current version (none yet: empty), to carry identity from."""
        async with self.db.read() as s:
            current_id = await documents.current_id(s, project_id)
            return await agentdata.requirements_of(s, current_id) if current_id else []

    async def _rows(self, version_id: str, content: str, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The requirement rows of a new version's content (see the module docstring for where it runs)."""
        loop = asyncio.get_running_loop()
        if self.agents is None or len(content) <= INLINE_EXTRACT_CHARS:
            rows: list[dict[str, Any]] = await loop.run_in_executor(self.cpu, extract_rows, version_id, content,
                                                                    previous)
            await spool.release(previous)
            return rows
        pool = self.agents
        source, out = pool.spool.path("document"), pool.spool.path("requirements")
        try:
            await pool.spool.write(source, [content])
            await pool.job("extract", {"content": source, "out": out, "per_line": PER_LINE})
            text = await pool.spool.read(out)
        finally:
            await pool.spool.discard(source, out)
        rows = []
        async for batch in spool.json_lines(text):
            made = documents.requirement_rows(version_id, batch)
            for position, row in enumerate(made, start=len(rows)):
                row["position"] = position
            rows.extend(made)
        await loop.run_in_executor(self.cpu, carry_identity, previous, rows)
        await spool.release(previous)
        return rows

    async def update(self, principal: Principal, version_id: str, *, title: str | None, notes: str | None,
                     make_current: bool) -> DocumentVersionOut:
        """Rename, annotate or make current (the version that stops being current gets its own event)."""
        async with self.db.write() as s:
            project_id = await authz.require_document_version(s, principal, version_id, need="editor")
            await documents.lock_project(s, project_id)
            version = await documents.get_locked(s, version_id)
            if version is None:
                raise NotFound("No such document version.")
            before = version.version
            if title is not None:
                version.title = title
            if notes is not None:
                version.notes = notes
            demoted: list[DocumentVersion] = []
            if make_current and not version.is_current:
                demoted = await documents.demote_current(s, project_id, keep_id=version.id)
                version.is_current = True
            await s.flush()
            out = DocumentVersionOut.model_validate(version)
            demoted_json = [summary_json(row) for row in demoted]
        if out.version != before:
            self._publish(principal, project_id, "document_version", "updated", summary_json(version))
        for resource in demoted_json:
            self._publish(principal, project_id, "document_version", "updated", resource)
        return out

    async def delete(self, principal: Principal, version_id: str) -> None:
        """Delete a version and its requirements; its artifacts stay, unlinked; the newest left becomes current."""
        async with self.db.write() as s:
            project_id = await authz.require_document_version(s, principal, version_id, need="editor")
            await documents.lock_project(s, project_id)
            version = await documents.get_locked(s, version_id)
            if version is None:
                raise NotFound("No such document version.")
            resource = summary_json(version)
            detached = [artifact_json(a) for a in await artifacts.detach_from_version(s, version.id)]
            await documents.delete_version(s, version.id)
            promoted = await documents.promote_newest(s, project_id) if version.is_current else None
            promoted_json = summary_json(promoted) if promoted is not None else None
        self._publish(principal, project_id, "document_version", "deleted", resource)
        for artifact in detached:
            self._publish(principal, project_id, "artifact", "updated", artifact)
        if promoted_json is not None:
            self._publish(principal, project_id, "document_version", "updated", promoted_json)
