"""RBAC endpoints: the permission catalogue, global roles, and the roles and permissions of a user."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema, field_validator

from chatsvc.permissions import PERMISSIONS
from chatsvc.schemas.common import ORM, Request, Text

ROLE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


def _known_permission(value: str) -> str:
    if value not in PERMISSIONS:
        raise ValueError(f"Unknown permission; known ones are: {', '.join(sorted(PERMISSIONS))}.")
    return value


PermissionName = Annotated[str, AfterValidator(_known_permission),
                           WithJsonSchema({"type": "string", "enum": sorted(PERMISSIONS)})]


def _unique(values: list[str] | None) -> list[str] | None:
    """Keep each permission once, sorted (the order a client sends carries no meaning)."""
    return None if values is None else sorted(set(values))


class PermissionOut(BaseModel):
    name: str
    description: str


class RoleCreate(Request):
    """A new custom role."""

    name: str = Field(pattern=ROLE_NAME_PATTERN, description="1-64 letters, digits, _ . : -; unique ignoring case")
    description: Text = Field("", max_length=500)
    permissions: list[PermissionName] = Field(max_length=100, description="names from GET /rbac/permissions")

    dedupe = field_validator("permissions")(_unique)


class RoleUpdate(Request):
    """Change a role; a field left out stays. Built-in roles accept only a new description."""

    name: str | None = Field(None, pattern=ROLE_NAME_PATTERN)
    description: Text | None = Field(None, max_length=500)
    permissions: list[PermissionName] | None = Field(None, max_length=100)

    dedupe = field_validator("permissions")(_unique)


class RoleOut(ORM):
    id: str
    name: str
    description: str
    permissions: list[str] = Field(description="sorted permission names")
    is_builtin: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class RoleRef(ORM):
    id: str
    name: str


class UserPermissionsOut(BaseModel):
    """A user's effective global permissions (a superuser has all) and the roles they come from."""

    user_id: str
    permissions: list[str]
    roles: list[RoleRef]
    is_superuser: bool
