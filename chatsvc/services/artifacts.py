"""ArtifactService: create, change and delete a project's artifacts (test cases, coverage reports, notes...).

Members read; editors and owners write (viewer 403, non-member 404). `test_cases` and `coverage_report`
content is validated (DESIGN §9) before the write transaction: in the cpu executor for a body of up to 64 KiB,
and, for a bigger one, by an agent worker process that also decodes it (the server never does), after which
its JSON text is stored and answered as it is. An import (TestRail, Xray, Zephyr CSV or Gherkin,
agent.interchange) and an export are done by a worker the same way (chatsvc.services.artifact_jobs, agent/jobs);
a file that cannot be imported is a 422 whose details say why, row by row. Replacing a content (PATCH) is a
worker's job whatever its size: it checks the body, compares it with the stored content and makes the test
cases' revisions. Renaming and deleting never read the content.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from chatsvc import authz
from chatsvc.agent_pool import AgentPool
from chatsvc.batching import Batcher
from chatsvc.bodies import RawBody
from chatsvc.errors import Conflict, ValidationFailed, from_body
from chatsvc.events import EMBED_LIMIT, EventBus, fits, project_topic, publish_resource, resource_event
from chatsvc.schemas.artifacts import ArtifactOut, without_content
from chatsvc.security import Principal
from chatsvc.services.artifact_jobs import checked_content
from chatsvc.services.test_cases import ATTEMPTS
from storage import agentdata, artifacts, documents, rawjson, test_cases
from storage.db import Database
from storage.models import utcnow

CREATE_BATCH = 32  # creates written by one transaction at most: other writers wait behind a short one
INLINE_VALIDATION_CHARS = 4096  # content up to this much JSON is validated on the loop (well under 1 ms)


class ArtifactService:
    """Artifacts: create in a project, rename or replace content, delete."""

    def __init__(self, *, db: Database, bus: EventBus, cpu: Executor, agents: AgentPool | None = None) -> None:
        self.db = db
        self.bus = bus
        self.cpu = cpu
        self.agents = agents
        self._creates = Batcher(self._create_many, max_batch=CREATE_BATCH, what="artifact creates")

    async def _create_many(self, items: Sequence[dict[str, Any]]) -> list[dict[str, Any] | None]:
        async with self.db.write_connection() as conn:
            return await artifacts.create_if_allowed(conn, items)

    async def close(self) -> None:
        await self._creates.close()

    def _publish(self, principal: Principal, project_id: str, action: str, resource: dict[str, Any]) -> None:
        publish_resource(self.bus, [project_topic(project_id)], "artifact", action, resource, principal.user_id)

    async def _checked(self, artifact_type: str, content: Any) -> Any:
        """Validate content for its type, in the cpu executor unless it is small (a thread hop costs more than
        checking a few KiB); a 422 locates the bad field under body.content."""
        if fits(content, INLINE_VALIDATION_CHARS):
            return checked_content(artifact_type, content)
        return await asyncio.get_running_loop().run_in_executor(self.cpu, checked_content, artifact_type, content)

    async def in_worker(self, job: str, args: dict[str, Any], key: str,
                        data: bytes | list[str]) -> tuple[dict[str, Any], str]:
        """Run artifact job `job` (chatsvc.services.artifact_jobs) on a worker with `data` as spool file
        `args[key]`; answer what it says and the checked content's JSON text ("" when it found a problem).
        A refusal it reports is raised here, as the server's own would be."""
        pool = self.agents
        assert pool is not None, "ArtifactService needs the agent pool for big contents"
        source, out = pool.spool.path(job), pool.spool.path("artifact-content")
        try:
            if isinstance(data, bytes):
                await pool.spool.write_bytes(source, data)
            else:
                await pool.spool.write(source, data)
            made: dict[str, Any] = await pool.job(job, {**args, key: source, "out": out, "embed_limit": EMBED_LIMIT})
            if "error" in made:
                raise from_body(made["error"])
            return made, ("" if "problem" in made else await pool.spool.read(out))
        finally:
            await pool.spool.discard(source, out)

    async def store_checked(self, principal: Principal, project_id: str, *, type: str, name: str,
                            document_version_id: str | None, content_text: str, content: Any | None) -> ArtifactOut:
        """Insert an artifact whose checked content is `content_text`, authorized in the write itself; publish
        it with the content when small (`content`), else as ids only. Returns it without its content."""
        async with self.db.write() as s:  # a write session reads the database, never the cache
            await authz.require_project(s, principal, project_id, need="editor")
            if document_version_id is not None and await documents.project_of(s, document_version_id) != project_id:
                raise ValidationFailed.field(["body", "document_version_id"],
                                             "No such document version in this project.")
            row = await rawjson.create_artifact(s, project_id=project_id, type=type, name=name,
                                                content_text=content_text, created_by=principal.user_id,
                                                document_version_id=document_version_id)
        out = ArtifactOut.model_construct(**row, content=None)
        if content is not None:  # small once checked: the event carries it, as for any create
            self._publish(principal, project_id, "created", {**out.model_dump(mode="json"), "content": content})
        else:
            self.bus.publish([project_topic(project_id)], *resource_event(
                "artifact", "created", id=out.id, version=out.version, actor=principal.user_id))
        return out

    async def require_editor(self, principal: Principal, project_id: str) -> None:
        if not authz.cached_role_allows(principal, project_id, "editor"):  # refuse before any work
            async with self.db.read() as s:
                await authz.require_project(s, principal, project_id, need="editor")

    async def create_raw(self, principal: Principal, project_id: str, body: RawBody) -> tuple[ArtifactOut, str]:
        """Create an artifact from a create body too big to decode here (editor): a worker decodes and checks
        it; its content's JSON text is stored as it is. Returns the artifact (content None) and that text."""
        await self.require_editor(principal, project_id)
        made, content_text = await self.in_worker("artifact_body", {}, "body", body.data)
        out = await self.store_checked(principal, project_id, type=made["type"], name=made["name"],
                                       document_version_id=made["document_version_id"], content_text=content_text,
                                       content=made["content"])
        return out, content_text

    async def create(self, principal: Principal, project_id: str, *, type: str, name: str, content: Any,
                     document_version_id: str | None) -> ArtifactOut:
        """Create an artifact (editor); a `document_version_id` must be a version of the same project."""
        await self.require_editor(principal, project_id)  # refuse before validating
        checked = await self._checked(type, content)
        # The check that counts is in the write itself, from the database: the insert writes the row only
        # where the caller may write (and the linked version is of this project), batched with concurrent
        # creates into one statement and one transaction (group commit).
        item = artifacts.new_artifact(
            project_id=project_id, type=type, name=name, content=checked, created_by=principal.user_id,
            superuser=principal.is_superuser, document_version_id=document_version_id)
        row = await self._creates.submit(item)
        if row is None:  # nothing written: say which rule refused it
            async with self.db.write() as s:  # a write session reads the database, never the cache
                await authz.require_project(s, principal, project_id, need="editor")
            raise ValidationFailed.field(["body", "document_version_id"], "No such document version in this project.")
        out = ArtifactOut.model_construct(**row)  # the values just written, all built or validated here
        self._publish(principal, project_id, "created", out.model_dump(mode="json"))
        return out

    async def import_cases(self, principal: Principal, project_id: str, *, text: str, fmt: str | None,
                           filename: str | None, name: str | None, document_version_id: str | None,
                           source_field: str = "content") -> tuple[ArtifactOut, dict[str, Any], str]:
        """Import a test suite's text as a new `test_cases` artifact (editor), read and checked by a worker.
        Returns the artifact (content None), what the import did (`import_summary`) and the content's text."""
        await self.require_editor(principal, project_id)  # refuse before parsing
        made, content_text = await self.in_worker("import_suite", {"fmt": fmt, "filename": filename}, "text",
                                                   [text])
        if "problem" in made:
            loc = ["body", source_field]
            problem = made["problem"]
            details = [{"loc": loc, "msg": problem["message"], "type": "value_error"}]
            details += [{"loc": loc, "msg": f"{d['where']}: {d['reason']}", "type": "value_error"}
                        for d in problem["details"]]
            raise ValidationFailed(problem["message"], details=details)
        out = await self.store_checked(principal, project_id, type="test_cases",
                                       name=name or filename or f"Imported {made['format']} test cases",
                                       document_version_id=document_version_id, content_text=content_text,
                                       content=made["content"])
        return out, made["summary"], content_text

    async def export(self, principal: Principal, artifact_id: str, fmt: str,
                     formats: dict[str, tuple[str, ...]]) -> tuple[str, str]:
        """A test_cases artifact or a coverage report written as a file (member): (its name, the file's text).
        `formats`: the formats of each exportable type. A worker reads the content and writes the file."""
        async with self.db.read() as s:
            artifact = await authz.require_artifact_head(s, principal, artifact_id)
            kind, name = artifact.type, artifact.name
            allowed = formats.get(kind, ())
            if fmt not in allowed:
                listed = f"one of {', '.join(allowed)}" if allowed else "test_cases or coverage_report artifacts only"
                raise ValidationFailed.field(["query", "format"], f"A {kind} artifact cannot be exported as {fmt}: "
                                                                  f"{listed}.")
            pieces = await agentdata.content_pieces(s, artifact_id)
        pool = self.agents
        assert pool is not None, "ArtifactService needs the agent pool for exports"
        source, out = pool.spool.path("export-content"), pool.spool.path("export")
        try:
            await pool.spool.write(source, pieces)
            await pool.job("export", {"content": source, "writer": "report" if kind == "coverage_report" else "cases",
                                      "format": fmt, "name": name, "out": out})
            return name, await pool.spool.read(out)
        finally:
            await pool.spool.discard(source, out)

    async def replace(self, principal: Principal, artifact_id: str,
                      body: RawBody) -> tuple[ArtifactOut, str | list[str]]:
        """A PATCH (editor): replace the content, and the name when the body gives one; a body without content
        renames (see rename). A worker decodes the body, checks its content for the artifact's type, compares
        it with the stored content and, for test cases, makes each case's revision (created, edited or
        deleted): neither content is decoded here, whatever their size. The result is stored only if the
        artifact is still at the version that was read (else it is read and done again), with the revisions
        in the same transaction. An unchanged artifact keeps its version and publishes nothing. Returns the
        artifact (content None) and its content's JSON text (or the pieces it was read in)."""
        pool = self.agents
        assert pool is not None, "ArtifactService needs the agent pool to replace contents"
        source = pool.spool.path("artifact-update")
        try:
            await pool.spool.write_bytes(source, body.data)
            for _attempt in range(ATTEMPTS):
                async with self.db.read() as s:
                    head = await authz.require_artifact_head(s, principal, artifact_id, need="editor")
                    revisions = (await test_cases.current_revisions(s, artifact_id) if head.type == "test_cases"
                                 else {})
                    pieces = await agentdata.content_pieces(s, artifact_id)
                made, text, rows = await self._replacement(source, head.type, pieces, revisions)
                if not made.get("changed"):  # no content, or the same: a rename at most
                    if made["name"] is None or made["name"] == head.name:
                        return without_content(head), pieces  # nothing to write: the content as just read
                    return await self.rename(principal, artifact_id, made["name"])
                name, now = made["name"], utcnow()
                async with self.db.write() as s:  # a write session reads the database, never the cache
                    await authz.require_project(s, principal, head.project_id, need="editor")
                    stored = await test_cases.write_content(s, artifact_id, version=head.version, content_text=text,
                                                            now=now, name=name)
                    if stored:
                        await test_cases.add_revisions(s, artifact_id=artifact_id, project_id=head.project_id,
                                                       changed_by=principal.user_id, now=now, rows=rows)
                if stored:
                    out = without_content(head, name=name or head.name, version=head.version + 1, updated_at=now)
                    self._publish_updated(principal, out, made["content"])
                    return out, text
            raise Conflict("The artifact kept changing while this change was applied; try again.")
        finally:
            await pool.spool.discard(source)

    async def _replacement(self, body: str, artifact_type: str, pieces: list[str],
                           revisions: dict[str, int]) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
        """Job `artifact_update` on a worker: what it says, the new content's JSON text and the revision rows
        (empty when nothing changed). A refusal it reports is raised here, as the server's own would be."""
        pool = self.agents
        assert pool is not None
        made = await pool.content_job("artifact_update", {"body": body, "type": artifact_type, "revisions": revisions,
                                                          "embed_limit": EMBED_LIMIT}, source="old", pieces=pieces)
        if "error" in made:
            raise from_body(made["error"])
        return made, made.get("content_text", ""), made.get("rows", [])

    def _publish_updated(self, principal: Principal, out: ArtifactOut, content: Any | None) -> None:
        """`artifact.updated`: with the content when it is small (`content`, as any update's event carries it),
        else the ids only (clients read it)."""
        if content is not None:
            self._publish(principal, out.project_id, "updated", {**out.model_dump(mode="json"), "content": content})
        else:
            self.bus.publish([project_topic(out.project_id)], *resource_event(
                "artifact", "updated", id=out.id, version=out.version, actor=principal.user_id))

    async def rename(self, principal: Principal, artifact_id: str,
                     name: str | None) -> tuple[ArtifactOut, list[str]]:
        """A PATCH without content (editor): rename (a new version) unless the name is the same. The content is
        neither decoded nor written, nor joined into one string: the answer is the artifact (content None) and
        the pieces of the content's JSON text as read (chatsvc.views.artifact_response streams them)."""
        async with self.db.write() as s:
            head = await authz.require_artifact_head(s, principal, artifact_id, need="editor")
            out = without_content(head)
            if name is not None and name != head.name:
                now = utcnow()
                version = await artifacts.rename(s, artifact_id, name, now)
                out = without_content(head, name=name, version=version, updated_at=now)
            pieces = await agentdata.content_pieces(s, artifact_id)
        if out.version != head.version:  # small: the event carries the content, as any update's does
            small = sum(map(len, pieces)) <= EMBED_LIMIT
            self._publish_updated(principal, out, json.loads("".join(pieces) or "null") if small else None)
        return out, pieces

    async def delete(self, principal: Principal, artifact_id: str) -> None:
        async with self.db.write() as s:
            artifact = await authz.require_artifact_head(s, principal, artifact_id, need="editor")
            resource = without_content(artifact).model_dump(mode="json")
            await artifacts.delete_artifact(s, artifact.id)
        self._publish(principal, resource["project_id"], "deleted", resource)
