"""TestCaseService: add, edit and delete the cases of a `test_cases` artifact one by one, and read a case's
history (the contract: POST/PATCH /artifacts/{id}/test-cases..., GET .../history).

Editors write, members read (viewer 403 on a write, non-member 404). A write reads the artifact's content as
JSON text, applies the change (chatsvc.services.case_edits) in the cpu executor when the content is small and in
an agent worker process beyond that (a 5000-case content is never decoded or encoded in the server process: on a
busy machine that held the GIL ~0.8 s, and the loop with it), then stores it only if the artifact is still at
the version it read, with the case's revision row, in one transaction; on a lost race it reads and applies again,
so two people editing different cases at once both keep their change. Then `artifact.updated` is published, as
ArtifactService does.
A whole-content PATCH (ArtifactService.replace) makes the same history in a worker (case_edits.diff_rows); a
link review (chatsvc.services.links) is one case's change here (`review_link`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from concurrent.futures import Executor
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz
from chatsvc.agent_pool import AgentPool
from chatsvc.errors import Conflict, NotFound, ValidationFailed, from_body
from chatsvc.events import EMBED_LIMIT, EventBus, project_topic, publish_resource, resource_event
from chatsvc.schemas.artifacts import ArtifactOut, without_content
from chatsvc.schemas.test_cases import TestCaseOut, TestCasesDeleted
from chatsvc.security import Principal
from chatsvc.services import case_edits
from chatsvc.services.case_edits import StaleCase, Written
from storage import agentdata, test_cases, users
from storage.db import Database
from storage.models import Artifact, utcnow

ATTEMPTS = 5  # reads and applies of one edit while other writes to the artifact keep coming first
INLINE_CHARS = 64 * 1024  # a content up to this is changed in the cpu executor (~2 ms); beyond, in a worker


def _case_out(artifact_id: str, version: int, written: Written) -> TestCaseOut:
    return TestCaseOut.model_validate({"artifact_id": artifact_id, "artifact_version": version,
                                       "revision": written.revision, "test_case": written.case})


def _entry(revision: int, action: str, changed_at: dt.datetime, changed_by: str | None, name: str | None,
           changes: Any, snapshot: Any) -> dict[str, Any]:
    """One history item as its JSON (TestCaseRevisionOut), from stored or synthesized values."""
    return {"revision": revision, "action": action, "changed_at": to_jsonable_python(changed_at),
            "changed_by": changed_by, "changed_by_name": name,
            "changes": changes if isinstance(changes, dict) else {}, "snapshot": snapshot}


class TestCaseService:
    """Per-case writes to a test_cases artifact, and each case's history."""

    __test__ = False  # not a pytest class

    def __init__(self, *, db: Database, bus: EventBus, cpu: Executor, agents: AgentPool | None = None) -> None:
        self.db = db
        self.bus = bus
        self.cpu = cpu
        self.agents = agents

    async def _artifact(self, session: AsyncSession, principal: Principal, artifact_id: str, need: str) -> Artifact:
        """The artifact without its content, authorized; a 422 unless it holds test cases."""
        artifact = await authz.require_artifact_head(session, principal, artifact_id, need=need)
        if artifact.type != "test_cases":
            raise ValidationFailed.field(["path", "id"], "Test cases are edited in a test_cases artifact; this "
                                                         f"one is a {artifact.type}.")
        return artifact

    async def _apply(self, op: str, params: dict[str, Any], pieces: list[str],
                     revisions: dict[str, int]) -> Written:
        """Run case_edits operation `op` on a content's JSON text: here in the cpu executor when it is small,
        else in a worker process, with the content, the new content and its revision rows as spool files."""
        if self.agents is None or sum(map(len, pieces)) <= INLINE_CHARS:
            work = functools.partial(case_edits.OPERATIONS[op], **params)
            return await asyncio.get_running_loop().run_in_executor(self.cpu, work, pieces, revisions)
        result = await self._job(op, params, pieces, revisions)
        if "stale" in result:
            raise StaleCase(result["stale"])
        if "error" in result:
            raise from_body(result["error"])
        written = Written(content=result["content"], case=result["case"], revision=result["revision"],
                          deleted=result["deleted"], missing=result["missing"])
        if result["changed"]:
            written.content_text, written.rows = result["content_text"], result["rows"]
        return written

    async def _job(self, op: str, params: dict[str, Any], pieces: list[str],
                   revisions: dict[str, int] | None = None) -> dict[str, Any]:
        """Job `case_edit` on a worker; a change's new content text and rows are read back into the answer."""
        pool = self.agents
        assert pool is not None
        return await pool.content_job("case_edit", {"op": op, "params": params, "revisions": revisions or {},
                                                    "embed_limit": EMBED_LIMIT}, source="content", pieces=pieces)

    async def _write(self, principal: Principal, artifact_id: str, op: str, params: dict[str, Any], *,
                     with_content: bool = False) -> tuple[Written, int]:
        """Apply case_edits operation `op` to the artifact's content and store what it made; return it and the
        artifact's version. `with_content`: the answer shows the whole content, so an edit that changed nothing
        carries the stored text too (a changed one always has its new text)."""
        for _attempt in range(ATTEMPTS):
            async with self.db.read() as s:
                head = await self._artifact(s, principal, artifact_id, "editor")
                version = head.version  # read first: a write after it, even mid-read, fails the check below
                revisions = await test_cases.current_revisions(s, artifact_id)
                pieces = await agentdata.content_pieces(s, artifact_id)
            written = await self._apply(op, params, pieces, revisions)
            if not written.changed:
                written.artifact = without_content(head)
                if with_content:
                    written.content_text = "".join(pieces)  # a copy, not a decode
                return written, version
            now = utcnow()
            async with self.db.write() as s:
                await authz.require_project(s, principal, head.project_id, need="editor")  # rights as of now
                stored = await test_cases.write_content(s, artifact_id, version=version,
                                                        content_text=written.content_text, now=now)
                if stored:
                    await test_cases.add_revisions(s, artifact_id=artifact_id, project_id=head.project_id,
                                                   changed_by=principal.user_id, now=now, rows=written.rows)
            if stored:
                written.artifact = without_content(head, version=version + 1, updated_at=now)
                self._publish(principal, head.project_id, written)
                return written, version + 1
        raise Conflict("The artifact kept changing while this change was applied; try again.")

    def _publish(self, principal: Principal, project_id: str, written: Written) -> None:
        """`artifact.updated`, the artifact as ArtifactService publishes it (the content rides along when small;
        None: a worker found it too big to send back, so the event carries the id only)."""
        artifact = written.artifact
        if written.content is None:
            self.bus.publish([project_topic(project_id)], *resource_event(
                "artifact", "updated", id=artifact.id, version=artifact.version, actor=principal.user_id))
            return
        publish_resource(self.bus, [project_topic(project_id)], "artifact", "updated",
                         {**artifact.model_dump(mode="json"), "content": written.content}, principal.user_id)

    async def review_link(self, principal: Principal, artifact_id: str, *, tc_id: str, req_uid: str,
                          fingerprint: str, accept: bool) -> tuple[ArtifactOut, str]:
        """A verdict on a case's link to a requirement (chatsvc.services.links), as one case's change: the
        artifact after it without its content, and the content's JSON text (never decoded here)."""
        written, _version = await self._write(principal, artifact_id, "review", {
            "tc_id": tc_id, "req_uid": req_uid, "fingerprint": fingerprint, "accept": accept}, with_content=True)
        return written.artifact, written.content_text

    async def add(self, principal: Principal, artifact_id: str, *, fields: dict[str, Any],
                  tc_id: str | None) -> TestCaseOut:
        """Add a case by hand (editor); without an id the server makes one. A case id in use: 409."""
        written, version = await self._write(principal, artifact_id, "add", {"fields": fields, "tc_id": tc_id})
        return _case_out(artifact_id, version, written)

    async def edit(self, principal: Principal, artifact_id: str, tc_id: str, *, fields: dict[str, Any],
                   base_revision: int | None) -> TestCaseOut:
        """Change some fields of a case (editor); 409 when it changed since `base_revision`."""
        params = {"tc_id": tc_id, "fields": fields, "base_revision": base_revision}
        try:
            written, version = await self._write(principal, artifact_id, "edit", params)
        except StaleCase as stale:
            raise await self._stale(artifact_id, tc_id, stale.revision) from None
        return _case_out(artifact_id, version, written)

    async def _stale(self, artifact_id: str, tc_id: str, revision: int) -> Conflict:
        """The 409 of an edit from an old revision: who changed the case, and when."""
        async with self.db.read() as s:
            last = await test_cases.last_change(s, artifact_id, tc_id)
        if last is None:
            return Conflict(f"Test case {tc_id} is at revision {revision}, as it was created with the artifact; "
                            "reload it and edit again.")
        who = last.changed_by_name or "a user who has since been deleted"
        return Conflict(f"Test case {tc_id} was changed by {who} at {last.changed_at:%Y-%m-%d %H:%M:%S} UTC (it is "
                        f"at revision {revision} now); reload it and edit again.")

    async def delete(self, principal: Principal, artifact_id: str, ids: list[str]) -> TestCasesDeleted:
        """Delete cases by id (editor), all in one write; ids the artifact does not have are listed as missing."""
        written, _version = await self._write(principal, artifact_id, "delete", {"ids": ids})
        return TestCasesDeleted(deleted=written.deleted, missing=written.missing)

    async def _find(self, pieces: list[str], tc_id: str) -> dict[str, Any] | None:
        """One case of a content's JSON text, found where `_apply` would change it."""
        if self.agents is None or sum(map(len, pieces)) <= INLINE_CHARS:
            return await asyncio.get_running_loop().run_in_executor(self.cpu, case_edits.find_case, pieces, tc_id)
        case: dict[str, Any] | None = (await self._job("find", {"tc_id": tc_id}, pieces))["case"]
        return case

    async def history(self, principal: Principal, artifact_id: str, tc_id: str, *, limit: int,
                      offset: int) -> dict[str, Any]:
        """A case's revisions, newest first (viewer). Revision 1 of a case that came with the artifact is not
        stored: it is made here from the artifact (who created it, when) and the case's oldest known state."""
        async with self.db.read() as s:
            head = await self._artifact(s, principal, artifact_id, "viewer")
            rows, stored = await test_cases.history(s, artifact_id, tc_id, limit=limit, offset=offset)
            first = await test_cases.first_change(s, artifact_id, tc_id) if stored else None
            synthesized = first is None or first.revision > 1
            shown = synthesized and offset <= stored < offset + limit
            creator = await users.username(s, head.created_by) if shown else None
            pieces = await agentdata.content_pieces(s, artifact_id) if first is None else None
        if pieces is not None:  # no stored revision: the case exists only if the content has it
            case = await self._find(pieces, tc_id)
            if case is None:
                raise NotFound(f"No test case {tc_id} in this artifact.")
        else:
            assert first is not None
            case = case_edits.before(tc_id, first.snapshot, first.changes) if shown else None  # one small case
        items = [_entry(r.revision, r.action, r.changed_at, r.changed_by, r.changed_by_name, r.changes, r.snapshot)
                 for r in rows]
        if shown:
            items.append(_entry(1, "created", head.created_at, head.created_by, creator,
                                case_edits.changes(None, case) if case else {}, case))
        return {"items": items, "total": stored + int(synthesized), "limit": limit, "offset": offset}
