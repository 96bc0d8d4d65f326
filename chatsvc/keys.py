"""Every typed application and request key, in one place.

The value types are imported for the type checker only (the modules behind them import this one), so each
key is declared with its type as an annotation: `app[keys.RUNS]` is a RunManager to mypy.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from chatsvc.access_cache import AccessCache
    from chatsvc.agent_pool import AgentPool
    from chatsvc.cluster import ProcessDirectory
    from chatsvc.events import Event, EventBus
    from chatsvc.live import Limits
    from chatsvc.run_manager import RunManager
    from chatsvc.security import LoginLimiter, PasswordHasher, Principal
    from chatsvc.services import Services
    from chatsvc.settings import Settings
    from chatsvc.sockets import SocketRegistry
    from chatsvc.task_manager import TaskManager
    from storage.blobs import BlobStore
    from storage.db import Database

    MetricsProvider = Callable[[], list[tuple[str, str, float]]]
    TopicSnapshot = Callable[[str, tuple[str, int]], list[Event]]  # (topic, position told)

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DB_CONNECT_ARGS: web.AppKey[dict[str, Any]] = web.AppKey("db_connect_args")  # driver arguments (tests: a schema)
DB: web.AppKey[Database] = web.AppKey("db")
CPU_EXECUTOR: web.AppKey[Executor] = web.AppKey("cpu_executor")
PASSWORDS: web.AppKey[PasswordHasher] = web.AppKey("passwords")
LOGIN_LIMITER: web.AppKey[LoginLimiter] = web.AppKey("login_limiter")
REGISTRATION_LIMITER: web.AppKey[LoginLimiter] = web.AppKey("registration_limiter")  # accounts per client IP
EVENTS: web.AppKey[EventBus] = web.AppKey("events")
ACCESS: web.AppKey[AccessCache] = web.AppKey("access")  # principals and project roles between requests
BLOBS: web.AppKey[BlobStore] = web.AppKey("blobs")
METRICS: web.AppKey[list[MetricsProvider]] = web.AppKey("metrics")  # callables returning [(name, help, value)]
OPENAPI_CACHE: web.AppKey[dict[str, Any]] = web.AppKey("openapi_cache")
WS_LIMITS: web.AppKey[Limits] = web.AppKey("ws_limits")
SOCKETS: web.AppKey[SocketRegistry] = web.AppKey("sockets")
# Callables topic -> [Event] queued right after a subscribe result (e.g. a streaming reply's text so far).
TOPIC_SNAPSHOTS: web.AppKey[list[TopicSnapshot]] = web.AppKey("topic_snapshots")
AGENTS: web.AppKey[AgentPool] = web.AppKey("agents")
RUNS: web.AppKey[RunManager] = web.AppKey("runs")
TASKS: web.AppKey[TaskManager] = web.AppKey("tasks")
CLUSTER: web.AppKey[ProcessDirectory] = web.AppKey("cluster")  # this process's view of the deployment
SERVICES: web.AppKey[Services] = web.AppKey("services")

# Request-scoped values, set while authenticating.
PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")
PRINCIPAL_RESOLVED: web.RequestKey[bool] = web.RequestKey("principal_resolved")
SESSION_SECRET: web.RequestKey[str] = web.RequestKey("session_secret")  # the cookie session's id, for CSRF
