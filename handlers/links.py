"""Reviewing coverage's links: accept an inferred link (it becomes declared) or reject it (never inferred
again). The command is LinkReviewService.review (chatsvc/services/links.py)."""

from __future__ import annotations

from aiohttp import web

from chatsvc import keys
from chatsvc.schemas.artifacts import ArtifactOut
from chatsvc.schemas.links import LinkReview
from chatsvc.views import ApiView, artifact_response, endpoint


class LinkReviewView(ApiView):
    path = "/artifacts/{id}/links"
    tag = "artifacts"

    @endpoint("Accept or reject a link between a test case and a requirement", body=LinkReview,
              response=ArtifactOut, errors=(403, 404, 422),
              description="On a test_cases artifact (editor). `accept` adds the requirement to the test case's "
                          "`requirement_uids` with a link carrying its current fingerprint (origin `accepted`), so "
                          "coverage counts it as explicit; `reject` removes any link to it and lists it in "
                          "`rejected_uids`, so coverage never infers it again. Answers the updated artifact "
                          "(`artifact.updated` is published).")
    async def post(self, body: LinkReview) -> web.StreamResponse:
        artifact, content_text = await self.app[keys.SERVICES].links.review(
            self.principal, self.match("id"), tc_id=body.tc_id, req_uid=body.req_uid,
            accept=body.decision == "accept", document_version_id=body.document_version_id)
        return await artifact_response(self.request, artifact, content_text)


VIEWS = [LinkReviewView]
