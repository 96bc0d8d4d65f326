"""Thin class views: one per URL, each method declared with @endpoint (validation, auth, OpenAPI metadata)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, ClassVar

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from pydantic import BaseModel, ValidationError

from chatsvc import keys
from chatsvc.auth import require_principal, resolve_principal
from chatsvc.bodies import RawBody, decode_body, validate_body
from chatsvc.errors import NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from chatsvc.headers import add_security_headers
from chatsvc.schemas.artifacts import artifact_parts
from chatsvc.schemas.common import is_id
from chatsvc.security import Principal

if TYPE_CHECKING:
    from chatsvc.services.projects import ProjectService

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Endpoint:
    """What one view method accepts and answers; read by the OpenAPI builder and the auth matrix."""

    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    form: bool = False  # also accept application/x-www-form-urlencoded (OAuth2 password grant)
    multipart: bool = False
    produces: str | tuple[str, ...] = "application/json"  # the media types a success may be served as
    errors: tuple[int, ...] = ()
    description: str = ""
    extra_responses: dict[int, str] = field(default_factory=dict)
    raw_over: int | None = None  # a JSON body longer than this reaches the method undecoded, as RawBody


class ApiView(web.View):
    """Base view: `path` is relative to /api/v1 unless `root` is set."""

    path: ClassVar[str] = ""
    root: ClassVar[bool] = False
    tag: ClassVar[str] = ""
    principal: Principal

    @property
    def app(self) -> web.Application:
        return self.request.app

    @property
    def db(self):  # type: ignore[no-untyped-def]
        return self.request.app[keys.DB]

    @property
    def settings(self):  # type: ignore[no-untyped-def]
        return self.request.app[keys.SETTINGS]

    def match(self, name: str) -> str:
        """Return a path id; anything that cannot be an id (too long, NUL, slashes...) is simply not found."""
        value = self.request.match_info.get(name, "")
        if not is_id(value):
            raise NotFound()
        return value

    @classmethod
    def full_path(cls) -> str:
        return cls.path if cls.root else API_PREFIX + cls.path


class ProjectScopedView(ApiView):
    """Shared helpers of the project, member and file views."""

    tag = "projects"

    def ident(self, name: str = "id") -> str:
        """Return an id path parameter; anything that cannot be an id is simply not found."""
        return self.match(name)

    @property
    def projects(self) -> ProjectService:
        return self.app[keys.SERVICES].projects


def endpoint(
    summary: str, **options: Any
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[[ApiView], Awaitable[web.StreamResponse]]]:
    """Declare a view method: authenticate, parse query/body into pydantic models, render the result."""
    meta = Endpoint(summary=summary, **options)

    def decorate(fn: Callable[..., Awaitable[Any]]) -> Callable[[ApiView], Awaitable[web.StreamResponse]]:
        @functools.wraps(fn)
        async def wrapper(self: ApiView) -> web.StreamResponse:
            request = self.request
            if meta.auth:
                self.principal = await require_principal(request)
            else:
                principal = await resolve_principal(request)
                if principal is not None:
                    self.principal = principal
            kwargs: dict[str, Any] = {}
            if meta.query is not None:
                kwargs["query"] = parse_query(request, meta.query)
            if meta.body is not None:
                kwargs["body"] = await parse_body(request, meta.body, form=meta.form, raw_over=meta.raw_over)
            result = await fn(self, **kwargs)
            return render(result, meta.status)

        wrapper.__endpoint__ = meta  # type: ignore[attr-defined]
        return wrapper

    return decorate


def parse_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    """Validate the query string; the error locations start with 'query'."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, ("query",)) from None


async def parse_body(request: web.Request, model: type[BaseModel], *, form: bool = False,
                     raw_over: int | None = None) -> BaseModel | RawBody:
    """Read and validate a JSON (or, where allowed, form) body; the error locations start with 'body'. A JSON
    body longer than `raw_over` bytes comes back as a RawBody, for `decode_body` in a worker process.

    The OpenAPI document says every body is required, so a missing or empty one is a 422 (it used to count
    as `{}`): a request without its body is a mistake, not "change nothing".
    """
    ctype = request.content_type
    max_bytes = request.app[keys.SETTINGS].max_json_bytes
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"The body may be at most {max_bytes} bytes.")
    if form and ctype == "application/x-www-form-urlencoded":
        data: Any = dict(await request.post())
    elif ctype == "application/json" or (ctype == "application/octet-stream" and not request.body_exists):
        raw = await request.read()
        if not raw:
            raise ValidationFailed.field(["body"], "A JSON body is required (send {} to change nothing).")
        if raw_over is not None and len(raw) > raw_over:
            return RawBody(raw)
        return decode_body(raw, model)
    else:
        accepted = "application/json" + (" or application/x-www-form-urlencoded" if form else "")
        raise UnsupportedMediaType(f"Send the body as {accepted}.")
    return validate_body(data, model)


STREAM_OVER_CHARS = 1 << 20  # an answer with more JSON text than this is written a slice at a time
STREAM_SLICE_CHARS = 1 << 20


async def artifact_response(request: web.Request, artifact: Any, content: str | list[str], *, status: int = 200,
                            **extra: Any) -> web.StreamResponse:
    """Answer an artifact with its content's stored JSON text (one string, or the pieces it was read in) spliced
    in, never decoded. A big one is streamed a slice at a time: joining, splicing and encoding 35 MB in one go
    held the loop ~100 ms, and the socket's buffer waits between slices (drain) instead of copying it all."""
    pieces = [content] if isinstance(content, str) else content
    before, after = artifact_parts(artifact, **extra)
    if sum(map(len, pieces)) <= STREAM_OVER_CHARS:
        return web.Response(status=status, text=before + ("".join(pieces) or "null") + after,
                            content_type="application/json")
    response = web.StreamResponse(status=status, headers={"Content-Type": "application/json; charset=utf-8"})
    add_security_headers(request, response)  # the middleware cannot: the headers are sent here
    await response.prepare(request)
    await response.write(before.encode())
    for piece in pieces:
        for start in range(0, len(piece), STREAM_SLICE_CHARS):
            await response.write(piece[start:start + STREAM_SLICE_CHARS].encode())
    await response.write(after.encode())
    await response.write_eof()
    return response


def render(result: Any, status: int) -> web.StreamResponse:
    """Turn a handler's return value into a response: model -> JSON, None -> 204."""
    if isinstance(result, web.StreamResponse):
        return result
    if result is None:
        return web.Response(status=204)
    if isinstance(result, BaseModel):
        return web.Response(status=status, text=result.model_dump_json(), content_type="application/json")
    return web.json_response(result, status=status)


class FileResponse(web.FileResponse):
    """aiohttp's FileResponse, reading the file on a thread instead of with sendfile(2) on the loop thread: a
    file not in the page cache made sendfile wait for the disk inside a loop callback (seen: 320 ms under
    I/O load). Costs a copy through user space per chunk; the loop never waits for a disk."""

    async def _sendfile(self, request: web.BaseRequest, fobj: IO[Any], offset: int,
                        count: int) -> AbstractStreamWriter:
        writer = await web.StreamResponse.prepare(self, request)
        assert writer is not None
        return await self._sendfile_fallback(writer, fobj, offset, count)
