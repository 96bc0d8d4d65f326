"""Build the OpenAPI 3.1 document from the route table and the pydantic schemas (no hand-written copy)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chatsvc import __version__
from chatsvc.views import ApiView

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


def iter_endpoints(app: web.Application) -> Iterator[tuple[str, str, type[ApiView], Any]]:
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
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
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
                }}},
            }
        ok: dict[str, Any] = {"description": "Success"}
        if meta.status != 204:
            if meta.response is not None:
                ok["content"] = {"application/json": {"schema": keyed[(meta.response, "serialization")]}}
            elif meta.produces != "application/json":
                ok["content"] = {meta.produces: {"schema": {"type": "string"}}}
            else:
                ok["content"] = {"application/json": {"schema": {}}}
        op["responses"][str(meta.status)] = ok
        errors = set(meta.errors)
        if meta.auth:
            errors |= {401}
            op["security"] = [{"bearer": []}, {"cookie": []}]
        else:
            op["security"] = []
        if meta.body is not None or meta.query is not None:
            errors |= {422}
        for code in sorted(errors):
            op["responses"][str(code)] = {
                "description": STATUS_TEXT.get(code, "Error"),
                "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
            }
        paths.setdefault(path, {})[method.lower()] = op
    defs = dict(defs.get("$defs", {}))
    defs["Error"] = ERROR_SCHEMA
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


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")
