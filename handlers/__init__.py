"""Thin aiohttp views, one module per resource; VIEWS is the route table the factory registers."""

from __future__ import annotations

from aiohttp import web

from chatsvc.views import ApiView
from handlers import (
    admin,
    artifacts,
    bot,
    chat,
    documents,
    files,
    links,
    members,
    ops,
    projects,
    rbac,
    tasks,
    test_cases,
    testruns,
    users,
    ws,
)

VIEWS: list[type[ApiView]] = [
    *ops.VIEWS,
    *users.VIEWS,
    *admin.VIEWS,
    *rbac.VIEWS,
    *projects.VIEWS,
    *members.VIEWS,
    *files.VIEWS,
    *documents.VIEWS,
    *artifacts.VIEWS,
    *chat.VIEWS,
    *bot.VIEWS,
    *tasks.VIEWS,
    *testruns.VIEWS,
    *links.VIEWS,
    *test_cases.VIEWS,
    *ws.VIEWS,
]


def add_static_routes(app: web.Application) -> None:
    """Serve the browser client (if present) at / from the package's static folder."""
    ops.add_static_routes(app)
