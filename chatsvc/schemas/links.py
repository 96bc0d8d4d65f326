"""Reviewing an inferred link: the body of POST /artifacts/{id}/links."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chatsvc.schemas.common import ID_PATTERN, Request


class LinkReview(Request):
    """A reviewer's verdict on one (test case, requirement) pair of a test_cases artifact."""

    tc_id: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00]*$", description="a test case of the artifact")
    req_uid: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00]*$",
                         description="a requirement of the document version")
    decision: Literal["accept", "reject"] = Field(
        description="accept: the test declares the requirement (a link with its current fingerprint, origin "
                    "`accepted`); reject: coverage never infers this pair again (`rejected_uids`)")
    document_version_id: str | None = Field(
        None, pattern=ID_PATTERN, description="the version whose requirement is meant (default: the artifact's "
                                              "version, else the project's current one)")
