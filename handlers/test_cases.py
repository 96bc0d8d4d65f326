"""The cases of a test_cases artifact one by one: add by hand, edit, delete in bulk, and each case's history.
The commands are TestCaseService's (chatsvc/services/test_cases.py)."""

from __future__ import annotations

from typing import Any

from chatsvc import keys
from chatsvc.schemas import Page, PageQuery
from chatsvc.schemas.test_cases import (
    TestCaseCreate,
    TestCaseDelete,
    TestCaseEdit,
    TestCaseOut,
    TestCaseRevisionOut,
    TestCasesDeleted,
)
from chatsvc.services.test_cases import TestCaseService
from chatsvc.views import ApiView, endpoint

WRITE_NOTE = ("On a test_cases artifact (else 422 naming path.id). Editor or above. Publishes `artifact.updated`. "
              "Edits of different cases at the same time are all kept.")
REVISIONS_NOTE = ("Revisions count from 1 per case; a case that came with the artifact is at revision 1 until it "
                  "first changes.")


class TestCasesBase(ApiView):
    """Shared helpers of the test case views."""

    __test__ = False  # not a pytest class
    tag = "artifacts"

    @property
    def cases(self) -> TestCaseService:
        return self.app[keys.SERVICES].test_cases


class TestCasesView(TestCasesBase):
    path = "/artifacts/{id}/test-cases"

    @endpoint("Add a test case by hand", body=TestCaseCreate, response=TestCaseOut, status=201,
              errors=(403, 404, 409, 422),
              description=WRITE_NOTE + " Without `id` the server picks `TC-` and 8 hex digits; an `id` the artifact "
                          "already has is a 409. An artifact holds at most 5000 cases (422). " + REVISIONS_NOTE)
    async def post(self, body: TestCaseCreate) -> TestCaseOut:
        return await self.cases.add(self.principal, self.match("id"), fields=body.fields(), tc_id=body.id)


class TestCasesDeleteView(TestCasesBase):
    path = "/artifacts/{id}/test-cases/delete"

    @endpoint("Delete test cases", body=TestCaseDelete, response=TestCasesDeleted, errors=(403, 404, 409, 422),
              description=WRITE_NOTE + " The cases the artifact has are deleted together (all or none); the other "
                          "ids are answered as `missing`.")
    async def post(self, body: TestCaseDelete) -> TestCasesDeleted:
        return await self.cases.delete(self.principal, self.match("id"), body.ids)


class TestCaseView(TestCasesBase):
    path = "/artifacts/{id}/test-cases/{tc_id}"

    @endpoint("Edit a test case", body=TestCaseEdit, response=TestCaseOut, errors=(403, 404, 409, 422),
              description=WRITE_NOTE + " Fields left out stay as they are; `{}` changes nothing. With "
                          "`base_revision`, a case changed since that revision is a 409 saying who changed it "
                          "(nothing is written). New `requirement_uids` drop the `links` to uids no longer listed. "
                          "404 for a case the artifact does not have. " + REVISIONS_NOTE + " (A case whose id is "
                          "`delete`, which only an import or a whole-content PATCH can make, is edited by a "
                          "whole-content PATCH: this URL is the bulk delete's.)")
    async def patch(self, body: TestCaseEdit) -> TestCaseOut:
        return await self.cases.edit(self.principal, self.match("id"), self.match("tc_id"), fields=body.fields(),
                                     base_revision=body.base_revision)


class TestCaseHistoryView(TestCasesBase):
    path = "/artifacts/{id}/test-cases/{tc_id}/history"

    @endpoint("Read a test case's history, newest first", query=PageQuery, response=Page[TestCaseRevisionOut],
              errors=(404, 422),
              description="Each revision: who changed the case and when, `changes` as `{field: {from, to}}`, and "
                          "the case after it (`snapshot`, null when deleted). " + REVISIONS_NOTE + " Viewer or "
                          "above; 404 for a case the artifact never had; 422 for an artifact of another type.")
    async def get(self, query: PageQuery) -> dict[str, Any]:
        return await self.cases.history(self.principal, self.match("id"), self.match("tc_id"), limit=query.limit,
                                        offset=query.offset)


VIEWS = [TestCasesView, TestCasesDeleteView, TestCaseView, TestCaseHistoryView]
