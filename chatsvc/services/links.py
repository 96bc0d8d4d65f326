"""Reviewing coverage's inferred links: a person accepts one (it becomes a declared link of the test case,
with the requirement's current fingerprint) or rejects one (coverage never infers it again). One service call
that authorizes (editor), resolves the requirement's fingerprint, then changes the one test case through
TestCaseService (which records the case's revision, commits and publishes `artifact.updated`; a big suite is
changed in a worker process, and its content's JSON text is answered without being decoded here).
"""

from __future__ import annotations

from chatsvc import authz
from chatsvc.errors import NotFound, ValidationFailed
from chatsvc.schemas.artifacts import ArtifactOut
from chatsvc.security import Principal
from chatsvc.services.test_cases import TestCaseService
from storage import agentdata, documents
from storage.db import Database


class LinkReviewService:
    """Accept or reject a link between a test case and a requirement."""

    def __init__(self, *, db: Database, test_cases: TestCaseService) -> None:
        self.db = db
        self.test_cases = test_cases

    async def review(self, principal: Principal, artifact_id: str, *, tc_id: str, req_uid: str, accept: bool,
                     document_version_id: str | None) -> tuple[ArtifactOut, str]:
        """The artifact after the verdict (content None) and its content's JSON text."""
        async with self.db.read() as s:
            artifact = await authz.require_artifact_head(s, principal, artifact_id, need="editor")
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
        return await self.test_cases.review_link(principal, artifact_id, tc_id=tc_id, req_uid=req_uid,
                                                 fingerprint=fingerprint, accept=accept)
