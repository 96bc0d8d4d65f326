"""Build the OpenAPI 3.1 document from the route table and the pydantic schemas (no hand-written copy)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chatsvc import __version__
from chatsvc.schemas.artifacts import STORABLE_JSON_MARK, STORABLE_JSON_REFS, STORABLE_JSON_SCHEMAS
from chatsvc.schemas.common import ID_PATTERN
from chatsvc.views import ApiView, Endpoint

METHODS = ("get", "post", "put", "patch", "delete")
REF = "#/components/schemas/{model}"

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {}},
            },
        }
    },
}
STATUS_TEXT = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
               409: "Conflict", 413: "Payload too large", 415: "Unsupported media type",
               422: "Validation error", 429: "Rate limited", 501: "Not implemented", 503: "Unavailable"}


def iter_endpoints(app: web.Application) -> Iterator[tuple[str, str, type[ApiView], Endpoint]]:
    """Yield (METHOD, path, view class, Endpoint) for every declared view method in the route table."""
    seen: set[tuple[str, str]] = set()
    for route in app.router.routes():
        view = route.handler
        if not (isinstance(view, type) and issubclass(view, ApiView)):
            continue
        path = route.resource.canonical if route.resource else ""
        for method in METHODS:
            fn = getattr(view, method, None)
            meta = getattr(fn, "__endpoint__", None)
            if meta is None or (method, path) in seen:
                continue
            seen.add((method, path))
            yield method.upper(), path, view, meta


def build_openapi(app: web.Application) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document for this application."""
    endpoints = list(iter_endpoints(app))
    models: list[tuple[type[BaseModel], str]] = []
    for _m, _p, _v, meta in endpoints:
        if meta.body is not None:
            models.append((meta.body, "validation"))
        if meta.response is not None:
            models.append((meta.response, "serialization"))
    keyed, defs = models_json_schema(models, ref_template=REF) if models else ({}, {})  # type: ignore[arg-type]
    paths: dict[str, dict[str, Any]] = {}
    for method, path, view, meta in endpoints:
        op: dict[str, Any] = {
            "summary": meta.summary,
            "operationId": f"{method.lower()}_{_slug(path)}",
            "tags": [view.tag or "misc"],
            "responses": {},
        }
        if meta.description:
            op["description"] = meta.description
        # Any other path segment cannot name anything: a 404 (or the 403 that comes before the lookup).
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": ID_PATTERN}}
            for name in re.findall(r"{(\w+)}", path)
        ]
        if meta.query is not None:
            params += _query_params(meta.query)
        if params:
            op["parameters"] = params
        if meta.body is not None:
            schema = keyed[(meta.body, "validation")]
            content = {"application/json": {"schema": schema}}
            if meta.form:
                content["application/x-www-form-urlencoded"] = {"schema": schema}
            op["requestBody"] = {"required": True, "content": content}
        if meta.multipart:
            op["requestBody"] = {
                "required": True,
                "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    # Other fields are skipped, but a part header cannot hold control characters but tab (400).
                    "propertyNames": {"pattern": "^[^\\u0000-\\u0008\\u000a-\\u001f\\u007f]*$"},
                }}},
            }
        op["responses"][str(meta.status)] = _success(meta, keyed)
        for status, text in meta.extra_responses.items():  # another success, answered with the same body
            op["responses"][str(status)] = {**_success(meta, keyed), "description": text}
        errors = set(meta.errors) | _body_errors(meta)
        if meta.auth:
            errors |= {401}
            op["security"] = [{"bearer": []}, {"cookie": []}]
        else:
            op["security"] = []
        for code in sorted(errors):
            op["responses"][str(code)] = {
                "description": STATUS_TEXT.get(code, "Error"),
                "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
            }
        paths.setdefault(path, {})[method.lower()] = op
    defs = dict(defs.get("$defs", {}))
    defs["Error"] = ERROR_SCHEMA
    defs.update(STORABLE_JSON_SCHEMAS)
    _link_storable_json(defs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "chatsvc",
            "version": __version__,
            "description": "REST API of chatsvc. Live changes arrive over the websocket at /api/v1/ws.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(defs.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Token from POST /api/v1/users/login"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "chatsvc_session",
                           "description": "Browser session from POST /api/v1/users/session; unsafe methods "
                                          "also need the X-CSRF-Token header"},
            },
        },
    }


def _link_storable_json(node: Any) -> None:
    """Replace each STORABLE_JSON_MARK in the schemas with a reference to its StorableJson component."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            mark = item.pop(STORABLE_JSON_MARK, None)
            if mark is not None:
                item["$ref"] = STORABLE_JSON_REFS[mark]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _success(meta: Endpoint, keyed: dict[Any, Any]) -> dict[str, Any]:
    """The success response: its model, or each media type a download may be served as."""
    ok: dict[str, Any] = {"description": "Success"}
    if meta.status == 204:
        return ok
    if meta.response is not None:
        ok["content"] = {"application/json": {"schema": keyed[(meta.response, "serialization")]}}
    elif meta.produces != "application/json":
        types = (meta.produces,) if isinstance(meta.produces, str) else meta.produces
        ok["content"] = {media: {"schema": {"type": "string"}} for media in types}
    else:
        ok["content"] = {"application/json": {"schema": {}}}
    return ok


def _body_errors(meta: Endpoint) -> set[int]:
    """The statuses every body and query answers before the handler runs (chatsvc.views.parse_body):
    400 for JSON that does not decode (or a multipart body that cannot be read), 413 past the size limit,
    415 for another media type, 422 for a missing body or one the schema refuses."""
    errors: set[int] = set()
    if meta.body is not None or meta.multipart:
        errors |= {400, 413, 415, 422}
    if meta.query is not None:
        errors |= {422}
    return errors


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")
