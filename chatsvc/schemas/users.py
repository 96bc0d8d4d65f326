"""Users, login, sessions and passwords."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import BaseModel, EmailStr, Field, StrictBool, StringConstraints, field_validator

from chatsvc.common_passwords import COMMON_PASSWORDS
from chatsvc.schemas.common import ORM, NonBlank, Request, Text, not_null
from chatsvc.security import MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES, password_problem

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$")
# Passwords are taken exactly as typed (ASVS 6.2.8): the request models strip other strings, never these.
Password = Annotated[str, StringConstraints(strip_whitespace=False)]
# The new-password rule in JSON Schema, which counts characters, not bytes: ASCII text of exactly 8 to 72
# characters; text with other characters between 2 and 72 characters (8 to 72 UTF-8 bytes is 2 to 72 such
# characters: the server counts the bytes, a 422 says so); never a common password (compared ignoring case;
# listed here in lower case). Everything the server accepts fits this schema.
def _any_case(word: str) -> str:
    return "".join(f"[{ch.lower()}{ch.upper()}]" if ch.isalpha() else re.escape(ch) for ch in word)


# EmailStr (email-validator) refuses addresses on special-use domains (RFC 6761: .test, .localhost, ...) that the
# JSON Schema `email` format allows: the schema says so too.
_SPECIAL_USE = "[.@](" + "|".join(_any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES) + ")$"
EMAIL_SCHEMA: dict[str, Any] = {
    "not": {"type": "string", "pattern": _SPECIAL_USE},
    "description": "not on a special-use domain (" + ", ".join(f".{name}" for name in SPECIAL_USE_DOMAIN_NAMES)
                   + ")",
}
NEW_PASSWORD_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"minLength": MIN_PASSWORD_BYTES, "maxLength": MAX_PASSWORD_BYTES, "pattern": "^[\\u0000-\\u007f]*$"},
        {"minLength": MIN_PASSWORD_BYTES // 4, "maxLength": MAX_PASSWORD_BYTES, "pattern": "[^\\u0000-\\u007f]"},
    ],
    "not": {"enum": sorted(COMMON_PASSWORDS)},
}


def _check_password(value: str) -> str:
    problem = password_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class UserRegister(Request):
    email: EmailStr = Field(json_schema_extra=EMAIL_SCHEMA)
    username: str = Field(min_length=3, max_length=32, description="3-32 of letters, digits, _ . -",
                          json_schema_extra={"pattern": USERNAME_RE.pattern})
    password: Password = Field(description="8 to 72 bytes (UTF-8), taken exactly as typed; not a common password",
                               json_schema_extra=NEW_PASSWORD_SCHEMA)
    full_name: Text = Field("", max_length=200)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not USERNAME_RE.match(value):
            raise ValueError("Use 3-32 letters, digits, '_', '.' or '-', starting with a letter or digit.")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        return _check_password(value)


class LoginRequest(Request):
    """OAuth2 password grant: form or JSON. Extra OAuth2 fields (grant_type, scope, client_id) are tolerated;
    `grant_type`, when sent, is `password` (not null: a form cannot say null)."""

    username: NonBlank = Field(min_length=1, max_length=320, description="username or email")
    password: Password = Field(min_length=1, max_length=1024)
    grant_type: Literal["password"] | None = Field(None, json_schema_extra=not_null)
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    @field_validator("grant_type", mode="before")
    @classmethod
    def _grant_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("grant_type is `password` when sent.")
        return value


class BrowserLoginRequest(Request):
    username: NonBlank = Field(min_length=1, max_length=320, description="username or email")
    password: Password = Field(min_length=1, max_length=1024)


class UserOut(ORM):
    id: str
    email: str
    username: str
    full_name: str
    is_active: bool
    is_superuser: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    last_login_at: dt.datetime | None = None
    version: int


class MeOut(UserOut):
    permissions: list[str] = []
    csrf_token: str | None = Field(None, description="present when authenticated by the session cookie")


class TokenOut(ORM):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user: UserOut


class BrowserSessionStateOut(BaseModel):
    """The browser's boot probe: who the session cookie belongs to, without a 401 when there is none."""

    user: UserOut | None = Field(description="null when the request carries no valid session")
    csrf_token: str | None = Field(description="the CSRF token of the cookie session, for X-CSRF-Token")


class BrowserSessionOut(ORM):
    user: UserOut
    csrf_token: str


class MeUpdate(Request):
    full_name: Text | None = Field(None, max_length=200)
    email: EmailStr | None = Field(None, json_schema_extra=EMAIL_SCHEMA)


class PasswordChange(Request):
    current_password: Password = Field(min_length=1, max_length=1024)
    new_password: Password = Field(json_schema_extra=NEW_PASSWORD_SCHEMA)
    logout_other_sessions: StrictBool = True

    @field_validator("new_password")
    @classmethod
    def _password(cls, value: str) -> str:
        return _check_password(value)


class DirectoryQuery(ORM):
    q: Text = Field("", max_length=100)
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=2**31 - 1)  # as every list: a bigger one overflowed the database's integer


class DirectoryEntry(ORM):
    id: str
    username: str
    full_name: str
