"""Operations endpoints: health, readiness, metrics, the OpenAPI document and its docs page."""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import os
import socket
from pathlib import Path

from aiohttp import web

from chatsvc import __version__, keys
from chatsvc.openapi import build_openapi
from chatsvc.schemas.common import ORM
from chatsvc.views import ApiView, FileResponse, endpoint

# The browser client is the installed `static` package, not a folder next to the source tree, so it is found the
# same way in a checkout (editable install), a wheel and chatsvc.pyz. Each of those puts it in a real directory
# (shiv extracts its site-packages), which aiohttp's add_static and FileResponse need.
STATIC_DIR = Path(str(importlib.resources.files("static"))).resolve()


class HealthOut(ORM):
    status: str
    version: str


class HealthView(ApiView):
    path = "/healthz"
    root = True
    tag = "ops"

    @endpoint("Liveness: the process answers", response=HealthOut, auth=False)
    async def get(self) -> HealthOut:
        return HealthOut(status="ok", version=__version__)


class ReadyView(ApiView):
    path = "/readyz"
    root = True
    tag = "ops"

    @endpoint("Readiness: the database answers", response=HealthOut, auth=False, errors=(503,))
    async def get(self) -> HealthOut | web.Response:
        try:
            await self.app[keys.DB].ping()
        except Exception:  # noqa: BLE001 - any failure means not ready
            return web.json_response({"status": "unavailable", "version": __version__}, status=503)
        return HealthOut(status="ready", version=__version__)


PROCESS = f"{socket.gethostname()}:{os.getpid()}"


class MetricsView(ApiView):
    path = "/metrics"
    root = True
    tag = "ops"

    @endpoint("Prometheus metrics", auth=False, produces="text/plain")
    async def get(self) -> web.Response:
        # Every series names its process: with several server processes Prometheus scrapes each (or one at
        # random through the load balancer) and sums by metric; unlabelled series would overwrite each other.
        process = f'process="{PROCESS}"'
        lines = [
            "# HELP chatsvc_info Build information.",
            "# TYPE chatsvc_info gauge",
            f'chatsvc_info{{version="{__version__}",{process}}} 1',
        ]
        for name, help_text, value in collect_metrics(self.app):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name}{{{process}}} {value}"]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


def collect_metrics(app: web.Application) -> list[tuple[str, str, float]]:
    """Gauges other parts register through the METRICS app key (sockets, runs, tasks)."""
    providers = app.get(keys.METRICS, [])
    out: list[tuple[str, str, float]] = []
    for provider in providers:
        out.extend(provider())
    return out


class OpenApiView(ApiView):
    path = "/openapi.json"
    tag = "ops"

    @endpoint("The OpenAPI 3.1 document of this API", auth=False)
    async def get(self) -> web.Response:
        cache = self.app[keys.OPENAPI_CACHE]
        if "text" not in cache:  # built once, off the loop: schema generation is Python-heavy
            spec = await asyncio.get_running_loop().run_in_executor(None, build_openapi, self.app)
            cache["text"] = json.dumps(spec)
        return web.Response(text=cache["text"], content_type="application/json")


class DocsView(ApiView):
    path = "/api/docs"
    root = True
    tag = "ops"

    @endpoint("A readable page of the API, rendered from the OpenAPI document", auth=False, produces="text/html")
    async def get(self) -> web.FileResponse:
        return FileResponse(STATIC_DIR / "apidocs.html")


ASSET_TYPES = frozenset({".html", ".js", ".mjs", ".css", ".svg", ".png", ".ico", ".woff2", ".json", ".txt", ".map"})

VIEWS = [HealthView, ReadyView, MetricsView, OpenApiView, DocsView]


def add_static_routes(app: web.Application) -> None:
    """Serve index.html at / and the client's modules under /static/ (never user uploads)."""
    if not STATIC_DIR.exists():
        return

    async def index(_request: web.Request) -> web.StreamResponse:
        page = STATIC_DIR / "index.html"
        if not page.exists():
            raise web.HTTPNotFound()
        return FileResponse(page, headers={"Cache-Control": "no-cache"})

    async def asset(request: web.Request) -> web.StreamResponse:
        # Only the client's own asset types (not the package's __init__.py or caches), never outside STATIC_DIR.
        # no-cache: browsers revalidate (304) instead of running stale modules after an upgrade.
        target = (STATIC_DIR / request.match_info["path"]).resolve()
        if STATIC_DIR not in target.parents or target.suffix not in ASSET_TYPES or not target.is_file():
            raise web.HTTPNotFound()
        return FileResponse(target, headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", index)
    app.router.add_get("/static/{path:.+}", asset)
