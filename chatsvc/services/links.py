"""Reviewing coverage's inferred links: a person accepts one (it becomes a declared link of the test case,
with the requirement's current fingerprint) or rejects one (coverage never infers it again). One service call
that authorizes (editor), then changes the test_cases artifact through ArtifactService.update (which validates,
commits and publishes `artifact.updated`).
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Executor
from typing import Any

from chatsvc import authz
from chatsvc.errors import NotFound, ValidationFailed
from chatsvc.schemas.artifacts import ArtifactOut
from chatsvc.security import Principal
from chatsvc.services.artifacts import ArtifactService
from storage import agentdata, documents
from storage.db import Database


def reviewed(pieces: list[str], tc_id: str, req_uid: str, fingerprint: str, accept: bool) -> dict[str, Any] | str:
    """The artifact content with the verdict applied, or why it cannot be (CPU-bound: in the cpu executor)."""
    content = json.loads("".join(pieces))
    case = next((c for c in content.get("test_cases") or () if isinstance(c, dict) and c.get("id") == tc_id), None)
    if case is None:
        return f"No test case {tc_id} in this artifact."
    rejected = [uid for uid in case.get("rejected_uids") or () if uid != req_uid]
    if accept:
        if req_uid not in case.setdefault("requirement_uids", []):
            case["requirement_uids"].append(req_uid)
        links = [link for link in case.get("links") or () if link.get("req_uid") != req_uid]
        case["links"] = [*links, {"req_uid": req_uid, "fingerprint": fingerprint, "origin": "accepted"}]
    else:
        rejected.append(req_uid)
        case["requirement_uids"] = [uid for uid in case.get("requirement_uids") or () if uid != req_uid]
        case["links"] = [link for link in case.get("links") or () if link.get("req_uid") != req_uid]
    if rejected:
        case["rejected_uids"] = rejected
    else:
        case.pop("rejected_uids", None)
    return dict(content)


class LinkReviewService:
    """Accept or reject a link between a test case and a requirement."""

    def __init__(self, *, db: Database, cpu: Executor, artifacts: ArtifactService) -> None:
        self.db = db
        self.cpu = cpu
        self.artifacts = artifacts

    async def review(self, principal: Principal, artifact_id: str, *, tc_id: str, req_uid: str, accept: bool,
                     document_version_id: str | None) -> ArtifactOut:
        async with self.db.read() as s:
            artifact = await authz.require_artifact(s, principal, artifact_id, need="editor")
            if artifact.type != "test_cases":
                raise ValidationFailed.field(["path", "id"], "Links are reviewed on a test_cases artifact.")
            # Ids only: a version row holds the whole document, which this needs none of.
            version_id = document_version_id or artifact.document_version_id
            if version_id is None:
                version_id = await documents.current_id(s, artifact.project_id)
            elif await documents.project_of(s, version_id) != artifact.project_id:
                version_id = None
            if version_id is None:
                raise NotFound("No such document version in this project.")
            fingerprint = await agentdata.requirement_fingerprint(s, version_id, req_uid)
            if fingerprint is None:
                raise ValidationFailed.field(["body", "req_uid"], f"That document version has no requirement "
                                             f"{req_uid}.")
            pieces = await agentdata.content_pieces(s, artifact_id)
        content = await asyncio.get_running_loop().run_in_executor(
            self.cpu, reviewed, pieces, tc_id, req_uid, fingerprint, accept)
        if isinstance(content, str):
            raise ValidationFailed.field(["body", "tc_id"], content)
        return await self.artifacts.update(principal, artifact_id, name=None, content=content)
