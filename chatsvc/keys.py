"""Every typed application and request key, in one place."""

from __future__ import annotations

from concurrent.futures import Executor
from aiohttp import web

SETTINGS = web.AppKey("settings", "Settings")
DB_CONNECT_ARGS = web.AppKey("db_connect_args", dict)  # extra driver arguments (tests: a PostgreSQL schema)
DB = web.AppKey("db", "Database")
CPU_EXECUTOR = web.AppKey("cpu_executor", Executor)
PASSWORDS = web.AppKey("passwords", "PasswordHasher")
LOGIN_LIMITER = web.AppKey("login_limiter", "LoginLimiter")
EVENTS = web.AppKey("events", "EventBus")
BLOBS = web.AppKey("blobs", "BlobStore")

# Request-scoped values, set while authenticating.
PRINCIPAL = web.RequestKey("principal", object)  # Principal | None
PRINCIPAL_RESOLVED = web.RequestKey("principal_resolved", bool)
SESSION_SECRET = web.RequestKey("session_secret", str)  # the cookie session's id, for CSRF
METRICS = web.AppKey("metrics", list)  # callables returning [(name, help, value)]
OPENAPI_CACHE = web.AppKey("openapi_cache", dict)
WS_LIMITS = web.AppKey("ws_limits", object)  # chatsvc.live.Limits
SOCKETS = web.AppKey("sockets", object)  # chatsvc.sockets.SocketRegistry
# Callables topic -> [Event] queued right after a subscribe result (e.g. a streaming reply's text so far).
TOPIC_SNAPSHOTS = web.AppKey("topic_snapshots", list)
AGENTS = web.AppKey("agents", object)  # chatsvc.agents.AgentPool
RUNS = web.AppKey("runs", object)  # chatsvc.runs.RunManager
TASKS = web.AppKey("tasks", object)  # chatsvc.tasks.TaskManager
SERVICES = web.AppKey("services", "Services")  # chatsvc.services.Services
