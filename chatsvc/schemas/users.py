"""Users, login, sessions and passwords."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BaseModel, EmailStr, Field, StringConstraints, field_validator

from chatsvc.schemas.common import ORM, Request
from chatsvc.security import password_problem

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$")
# Passwords are taken exactly as typed (ASVS 6.2.8): the request models strip other strings, never these.
Password = Annotated[str, StringConstraints(strip_whitespace=False)]


def _check_password(value: str) -> str:
    problem = password_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class UserRegister(Request):
    email: EmailStr
    username: str = Field(min_length=3, max_length=32, description="3-32 of letters, digits, _ . -")
    password: Password = Field(description="8 to 72 bytes (UTF-8), taken exactly as typed; not a common password")
    full_name: str = Field("", max_length=200)

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
    """OAuth2 password grant: form or JSON. Extra OAuth2 fields (grant_type, scope, client_id) are tolerated."""

    username: str = Field(min_length=1, max_length=320, description="username or email")
    password: Password = Field(min_length=1, max_length=1024)
    grant_type: str | None = Field(None, pattern="^password$")
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class BrowserLoginRequest(Request):
    username: str = Field(min_length=1, max_length=320, description="username or email")
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
    full_name: str | None = Field(None, max_length=200)
    email: EmailStr | None = None


class PasswordChange(Request):
    current_password: Password = Field(min_length=1, max_length=1024)
    new_password: Password
    logout_other_sessions: bool = True

    @field_validator("new_password")
    @classmethod
    def _password(cls, value: str) -> str:
        return _check_password(value)


class DirectoryQuery(ORM):
    q: str = Field("", max_length=100)
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=2**31 - 1)  # as every list: a bigger one overflowed the database's integer


class DirectoryEntry(ORM):
    id: str
    username: str
    full_name: str
