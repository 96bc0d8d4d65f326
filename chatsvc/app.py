"""The application factory: middlewares, lifetimes in cleanup_ctx, the route table."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from aiohttp_session import session_middleware
from sqlalchemy.orm import configure_mappers

from agent.providers import provider_settings
from chatsvc import keys
from chatsvc.access_cache import AccessCache
from chatsvc.agent_pool import AgentPool
from chatsvc.auth import SessionCookieStorage
from chatsvc.cluster import ProcessDirectory
from chatsvc.events import EventBus, InMemoryEventBus
from chatsvc.headers import add_security_headers
from chatsvc.http_errors import error_middleware
from chatsvc.live import Limits
from chatsvc.permissions import BUILTIN_ROLES
from chatsvc.proxies import TrustedProxies
from chatsvc.run_manager import RunManager
from chatsvc.security import LoginLimiter, PasswordHasher
from chatsvc.services import Services
from chatsvc.services.admin import AdminService
from chatsvc.services.agent_tools import AgentTools
from chatsvc.services.artifacts import ArtifactService
from chatsvc.services.bot import BotService
from chatsvc.services.chat import ChatService
from chatsvc.services.documents import DocumentService
from chatsvc.services.files import FileService
from chatsvc.services.links import LinkReviewService
from chatsvc.services.projects import ProjectService
from chatsvc.services.rbac import RbacService
from chatsvc.services.test_cases import TestCaseService
from chatsvc.services.testruns import TestRunService
from chatsvc.services.users import UserService
from chatsvc.settings import Settings
from chatsvc.shutdown import stop_tasks
from chatsvc.sockets import SocketRegistry
from chatsvc.task_kinds import task_kinds
from chatsvc.task_manager import TaskManager
from storage import rbac
from storage.blobs import BlobStore
from storage.db import Database
from storage.migrate import run_migrations_blocking

log = logging.getLogger("chatsvc")

@web.middleware
async def security_headers_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Add the headers every answer carries (a handler that streams its answer adds them itself)."""
    response: web.StreamResponse = await handler(request)
    if not response.prepared:
        add_security_headers(request, response)
    return response


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """Migrate (in a thread: Alembic is sync Python), open the engines, seed built-in roles."""
    settings = app[keys.SETTINGS]
    url = settings.resolved_database_url
    connect_args = app.get(keys.DB_CONNECT_ARGS) or None
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, run_migrations_blocking, url, connect_args)
    swept = await loop.run_in_executor(None, app[keys.BLOBS].sweep_temp)
    if swept:
        log.info("removed %d unfinished uploads left by a crash", swept)
    await loop.run_in_executor(None, configure_mappers)  # ~100 ms of Python, once: not on the loop
    db = Database(url, connect_args=connect_args)
    async with db.write() as s:
        await rbac.ensure_builtin_roles(s, BUILTIN_ROLES)
    app[keys.DB] = db
    log.info("database ready: %s", settings.public_dsn())
    yield
    await db.close()


async def executors_ctx(app: web.Application) -> AsyncIterator[None]:
    """Create the bounded cpu executor once; shut it down on cleanup."""
    settings = app[keys.SETTINGS]
    cpu = ThreadPoolExecutor(max_workers=settings.cpu_threads, thread_name_prefix="cpu")
    app[keys.CPU_EXECUTOR] = cpu
    hasher = PasswordHasher(cpu, settings.bcrypt_rounds, concurrency=settings.cpu_threads)
    await hasher.warm_up()
    app[keys.PASSWORDS] = hasher
    yield
    cpu.shutdown(wait=True, cancel_futures=True)


def login_limiter(settings: Settings, *, registrations: bool = False) -> LoginLimiter:
    """Failed logins (or accounts created per client IP) counted in Redis when processes share the work, so
    N of them allow what one does."""
    limits = (settings.login_fail_limit_account, settings.login_fail_limit_ip, settings.login_window_s)
    if registrations:
        limits = (settings.registrations_per_ip, settings.registrations_per_ip, settings.registration_window_s)
    if settings.redis_url:
        from chatsvc.redis_limiter import RedisLoginLimiter  # redis-py is an optional extra

        return RedisLoginLimiter(settings.redis_url, *limits, name="register" if registrations else "login")
    return LoginLimiter(*limits)


async def close_login_limiter(app: web.Application) -> None:
    await app[keys.LOGIN_LIMITER].close()
    await app[keys.REGISTRATION_LIMITER].close()


async def events_ctx(app: web.Application) -> AsyncIterator[None]:
    """The event bus (in memory, or on Redis when processes share the work) and the registry of live sockets."""
    redis_url = app[keys.SETTINGS].redis_url
    if redis_url:
        from chatsvc.redisbus import RedisEventBus  # redis-py is an optional extra

        bus: EventBus = await RedisEventBus.connect(redis_url)  # start-up fails here when Redis is unreachable
    else:
        bus = InMemoryEventBus()
    app[keys.EVENTS] = bus
    access = AccessCache()
    bus.add_publish_hook(access.on_publish)  # this process forgets at publish time
    bus.add_tap(access.on_event)  # and learns of other processes' changes
    app[keys.ACCESS] = access
    registry = SocketRegistry(bus, app[keys.DB], idle_s=app[keys.SETTINGS].session_idle_s)
    registry.start()
    app[keys.SOCKETS] = registry
    app[keys.METRICS].append(lambda: [
        ("chatsvc_websockets", "Open websocket connections.", registry.count()),
        ("chatsvc_subscriptions", "Topic subscriptions of open websockets.", bus.subscriber_count()),
        ("chatsvc_events_published_total", "Events published since start.", bus.published_total),
    ])
    prune = asyncio.get_running_loop().create_task(_prune_topics(bus))
    yield
    await stop_tasks([prune], "topic pruning", timeout=1.0)
    await bus.close()  # after the runs and tasks stopped: their last events still go out


async def _prune_topics(bus: EventBus) -> None:
    while True:
        await asyncio.sleep(60)
        bus.prune()


async def agents_ctx(app: web.Application) -> AsyncIterator[None]:
    """The agent worker pool, the task manager and the run manager; recover what a crash left behind."""
    settings = app[keys.SETTINGS]
    db, bus = app[keys.DB], app[keys.EVENTS]
    pool = AgentPool(mode=settings.agent_executor, size=settings.agent_processes)  # tools: through each run
    app[keys.AGENTS] = pool
    kinds = task_kinds(db=db, bus=bus, cpu=app[keys.CPU_EXECUTOR], agents=pool, settings=settings)
    tasks = TaskManager(db=db, bus=bus, kinds=kinds, concurrency=settings.task_concurrency,
                        lease_s=settings.task_lease_s)
    app[keys.TASKS] = tasks
    bot = BotService(db=db, tasks=tasks, max_per_user=settings.max_tasks_per_user)
    tools = AgentTools(db=db, bot=bot, agents=pool)
    runs = RunManager(db=db, bus=bus, pool=pool, provider=lambda: provider_settings(settings), tools=tools.run,
                      lease_s=settings.run_lease_s, max_per_user=settings.max_runs_per_user)
    app[keys.RUNS] = runs
    cluster = ProcessDirectory(bus)
    cluster.answer("stats", lambda _data: {"live_sockets": app[keys.SOCKETS].count(),
                                           "active_runs": runs.active_count(), "running_tasks": len(tasks.running)})
    cluster.answer("sockets.reconnect", lambda data: {"closed": app[keys.SOCKETS].reconnect_user(str(data["user_id"]))})
    app[keys.CLUSTER] = cluster
    artifacts = ArtifactService(db=db, bus=bus, cpu=app[keys.CPU_EXECUTOR], agents=pool)
    test_cases = TestCaseService(db=db, bus=bus, cpu=app[keys.CPU_EXECUTOR], agents=pool)
    app[keys.SERVICES] = Services(
        chat=ChatService(db=db, bus=bus, runs=runs), bot=bot,
        projects=ProjectService(db=db, bus=bus, blobs=app[keys.BLOBS], cpu=app[keys.CPU_EXECUTOR]),
        documents=DocumentService(db=db, bus=bus, blobs=app[keys.BLOBS], cpu=app[keys.CPU_EXECUTOR], agents=pool),
        files=FileService(db=db, bus=bus, blobs=app[keys.BLOBS], cpu=app[keys.CPU_EXECUTOR]),
        rbac=RbacService(db=db),
        users=UserService(db=db, bus=bus, passwords=app[keys.PASSWORDS], limiter=app[keys.LOGIN_LIMITER],
                          settings=settings, registrations=app[keys.REGISTRATION_LIMITER]),
        admin=AdminService(db=db, bus=bus, cluster=cluster),
        artifacts=artifacts, test_runs=TestRunService(db=db, artifacts=artifacts),
        links=LinkReviewService(db=db, test_cases=test_cases), test_cases=test_cases)
    app[keys.TOPIC_SNAPSHOTS].append(runs.snapshot)

    def on_event(event: Any) -> None:
        if event.name == "project.deleted" and event.topic.startswith("project:"):
            runs.stop_project(event.topic[len("project:"):])
            tasks.stop_project(event.topic[len("project:"):])

    bus.add_tap(on_event)
    bus.add_tap(runs.on_control)  # cancel requests relayed from other processes
    bus.add_tap(tasks.on_control)
    bus.add_tap(cluster.on_event)
    cluster.start()
    app[keys.METRICS].append(lambda: [
        ("chatsvc_active_runs", "Agent runs streaming now.", runs.active_count()),
        ("chatsvc_running_tasks", "Background tasks running in this process.", len(tasks.running)),
    ])
    await runs.recover()
    await tasks.recover()
    yield
    await app[keys.SERVICES].artifacts.close()
    await cluster.close()
    await runs.close()
    await tasks.close()
    await pool.close()


async def close_sockets(app: web.Application) -> None:
    """on_shutdown: goodbye and close 1001 to every websocket before handlers are cancelled."""
    await app[keys.SOCKETS].close_all()


def create_app(settings: Settings, *, db_connect_args: dict[str, Any] | None = None,
               ws_limits: Limits | None = None) -> web.Application:
    """Build the whole application for these settings (the same factory serves run.py and tests)."""
    from handlers import VIEWS, add_static_routes

    settings = settings.with_secrets()
    storage = SessionCookieStorage(
        settings.secret_key,
        cookie_name=settings.cookie_name,
        httponly=True,
        samesite="Lax",
        secure=settings.cookie_secure,
        max_age=settings.session_absolute_s,
    )
    proxies = [TrustedProxies(settings.trusted_proxies).middleware] if settings.trusted_proxies else []
    app = web.Application(
        middlewares=[*proxies, security_headers_middleware, error_middleware, session_middleware(storage)],
        client_max_size=settings.max_json_bytes,
    )
    app[keys.SETTINGS] = settings
    app[keys.OPENAPI_CACHE] = {}
    app[keys.METRICS] = []
    app[keys.WS_LIMITS] = ws_limits or Limits(max_sockets_per_user=settings.max_sockets_per_user)
    app[keys.TOPIC_SNAPSHOTS] = []
    if db_connect_args:
        app[keys.DB_CONNECT_ARGS] = db_connect_args
    app[keys.LOGIN_LIMITER] = login_limiter(settings)
    app[keys.REGISTRATION_LIMITER] = login_limiter(settings, registrations=True)
    app.on_cleanup.append(close_login_limiter)
    app[keys.BLOBS] = BlobStore(settings.blob_dir)
    app.cleanup_ctx.extend([database_ctx, executors_ctx, events_ctx, agents_ctx])
    app.on_shutdown.append(close_sockets)

    for view in VIEWS:
        app.router.add_view(view.full_path(), view)
    add_static_routes(app)
    return app
