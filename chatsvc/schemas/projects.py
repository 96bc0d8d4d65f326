"""Projects and their members: request bodies and the JSON they answer."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from chatsvc.schemas.common import ID_PATTERN, ORM, NonBlank, Request, Text, exactly_one_of, not_null

ProjectRole = Literal["owner", "editor", "viewer"]
MAX_DESCRIPTION = 10_000



class ProjectCreate(Request):
    """Create a project; the caller becomes its owner."""

    name: NonBlank = Field(min_length=1, max_length=200)
    description: Text = Field("", max_length=MAX_DESCRIPTION)


class ProjectUpdate(Request):
    """Rename a project or change its description (owner only); absent fields stay as they are."""

    name: NonBlank | None = Field(None, min_length=1, max_length=200, description="may not be null",
                                  json_schema_extra=not_null)
    description: Text | None = Field(None, max_length=MAX_DESCRIPTION, description="null clears it")

    @model_validator(mode="after")
    def _name_not_null(self) -> ProjectUpdate:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name may not be null")
        return self


class ProjectOut(ORM):
    id: str
    name: str
    description: str
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    my_role: ProjectRole | None = Field(None, description="the caller's role; a superuser acts as owner")


class MemberAdd(Request):
    """Add a user to a project: exactly one of `user_id` or `username`."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of(("user_id",), ("username",)))

    user_id: str | None = Field(None, pattern=ID_PATTERN)
    username: NonBlank | None = Field(None, min_length=1, max_length=64)
    role: ProjectRole

    @model_validator(mode="after")
    def _exactly_one(self) -> MemberAdd:
        if (self.user_id is None) == (self.username is None):
            raise ValueError("Give exactly one of user_id or username.")
        return self


class MemberUpdate(Request):
    """Change a member's role (owner only)."""

    role: ProjectRole


class MemberOut(ORM):
    id: str = Field(description="the membership's id (events carry it); URLs address members by user_id")
    project_id: str
    user_id: str
    username: str
    full_name: str
    role: ProjectRole
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


def member_out(member: Any, user: Any) -> MemberOut:
    """Combine a membership row and its user into the member JSON."""
    return MemberOut(
        id=member.id, project_id=member.project_id, user_id=member.user_id, username=user.username,
        full_name=user.full_name, role=member.role, created_at=member.created_at, updated_at=member.updated_at,
        version=member.version,
    )
