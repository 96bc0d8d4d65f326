"""The command line behind run.py: serve (default), create-user, migrate."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import errno
import faulthandler
import gc
import getpass
import logging
import os
import queue
import signal
import socket
import ssl
import sys
import time
from collections.abc import Sequence
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path
from typing import Any

from chatsvc.settings import Settings

log = logging.getLogger("chatsvc")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py", description="chatsvc: AI-assisted QA server")
    sub = parser.add_subparsers(dest="command")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", help="where the database, secrets and uploads live (./data)")
        p.add_argument("--database-url", help="sqlite+aiosqlite:///… or postgresql+asyncpg://…")

    serve = sub.add_parser("serve", help="start the server (default)")
    for p in (parser, serve):
        p.add_argument("--host", help="interface to bind (127.0.0.1)")
        p.add_argument("--port", type=int, help="port to listen on (8080)")
        p.add_argument("--llm", choices=["offline", "openai"], help="agent model provider (offline)")
        p.add_argument("--workers", type=int, help="server processes sharing the port (1)")
        p.add_argument("--tls-cert", help="serve HTTPS: certificate chain (PEM), with --tls-key")
        p.add_argument("--tls-key", help="serve HTTPS: private key (PEM), with --tls-cert")
        common(p)

    cu = sub.add_parser("create-user", help="create a user, e.g. the first admin")
    cu.add_argument("--username")
    cu.add_argument("--email")
    cu.add_argument("--password", help="prefer --password-stdin or the prompt")
    cu.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    cu.add_argument("--full-name", default="")
    cu.add_argument("--admin", action="store_true", help="make the user a superuser with the admin role")
    common(cu)

    mig = sub.add_parser("migrate", help="apply database migrations and exit")
    common(mig)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        data_dir=Path(args.data_dir) if getattr(args, "data_dir", None) else None,
        database_url=getattr(args, "database_url", None),
        llm=getattr(args, "llm", None),
        workers=getattr(args, "workers", None),
        tls_cert=getattr(args, "tls_cert", None),
        tls_key=getattr(args, "tls_key", None),
    )


def log_off_the_loop() -> None:
    """Write log records on a thread of their own, so a log file or terminal that stalls (disk pressure, a
    paused reader) can never stall the event loop: loggers only queue records."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    if not handlers or any(isinstance(h, QueueHandler) for h in handlers):
        return
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    for handler in handlers:
        root.removeHandler(handler)
    root.addHandler(QueueHandler(records))
    listener = QueueListener(records, *handlers, respect_handler_level=True)
    listener.start()
    atexit.register(listener.stop)  # flushes what is queued before the process ends


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("CHATSVC_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its per-plugin INFO lines drown the start-up
    log_off_the_loop()
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = args.command or "serve"
    if command == "migrate":
        return migrate(settings)
    if command == "create-user":
        return create_user_command(settings, args)
    return serve(settings)


def migrate(settings: Settings) -> int:
    from storage.migrate import run_migrations_blocking

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_migrations_blocking(settings.resolved_database_url)
    print(f"database is up to date: {settings.public_dsn()}")
    return 0


def listen_problem(host: str, port: int) -> str | None:
    """Say why the server could not listen on host:port (port in use, no permission, unknown host), or None.

    Checked before anything is created, so a busy port costs one clear line instead of a traceback after
    the data folder was made. The port is bound without SO_REUSEPORT: a port any other program holds counts.
    """
    if port == 0:
        return None
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot listen on {host}: {exc.strerror}; choose another with --host"
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is fine
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return f"port {port} is in use on {host}; choose another with --port"
                return f"cannot listen on {host}:{port} ({exc.strerror}); choose another with --host or --port"
    return None


WORKER_STOP_S = 30.0  # the most a --workers N server process gets to stop (its shutdown_timeout is 15 s)
STOP_WATCHDOG_S = 20.0  # a server process still stopping this long after it began prints every thread's stack


def serve(settings: Settings) -> int:
    """Run the server until SIGINT/SIGTERM; several processes share the port with --workers N."""
    problem = listen_problem(settings.host, settings.port)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if settings.tls_cert:
        try:
            tls_context(settings)
        except (OSError, ssl.SSLError) as exc:
            print(f"error: cannot use --tls-cert/--tls-key: {exc}", file=sys.stderr)
            return 2
    if settings.workers > 1 and not settings.redis_url:
        print("error: --workers N > 1 needs CHATSVC_REDIS_URL=redis://...: without it, events published by one "
              "process would not reach websockets on the others", file=sys.stderr)
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.with_secrets()
    if settings.workers == 1:
        _serve_one(settings, reuse_port=False)
        return 0
    from chatsvc.permissions import BUILTIN_ROLES
    from storage import rbac
    from storage.db import Database
    from storage.migrate import run_migrations_blocking

    async def create_builtin_roles() -> None:
        db = Database(settings.resolved_database_url)
        try:
            async with db.write() as s:
                await rbac.ensure_builtin_roles(s, BUILTIN_ROLES)
        finally:
            await db.close()

    # Once, before the workers race for it: two workers creating the roles of a new database collide.
    run_migrations_blocking(settings.resolved_database_url)
    asyncio.run(create_builtin_roles())
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_serve_worker, args=(settings, True, i == 0), daemon=False)
             for i in range(settings.workers)]

    stopping_since: list[float] = []

    def forward(signum: int, _frame: Any) -> None:
        stopping_since[:] = stopping_since or [time.monotonic()]
        for proc in procs:
            if proc.pid and proc.is_alive():
                os.kill(proc.pid, signal.SIGINT)

    # Before the first start: a Ctrl-C while workers are still starting stops them too, without a traceback.
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    for proc in procs:
        proc.start()
    while any(proc.is_alive() for proc in procs):
        for proc in procs:
            proc.join(0.2)
        # A worker's own stop is bounded (shutdown_timeout, bounded close paths); should one still hang, the
        # command must end anyway: what it had not written is what a crash would lose, and the sweep recovers.
        if stopping_since and time.monotonic() - stopping_since[0] > WORKER_STOP_S:
            for proc in procs:
                if proc.is_alive():
                    print(f"warning: server process {proc.pid} did not stop within {WORKER_STOP_S:g} s: killed",
                          file=sys.stderr, flush=True)
                    proc.kill()
    return 0 if all(proc.exitcode == 0 for proc in procs) else 1  # e.g. Redis unreachable at start-up


def raise_open_files_limit() -> None:
    """Raise the open-files soft limit to the hard limit: every websocket is a file descriptor, and a
    soft limit of 1024 (common) would refuse connections long before memory or CPU run out."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # not allowed here: keep the soft limit
            pass


def _serve_worker(settings: Settings, reuse_port: bool, first: bool) -> None:
    """One of --workers N: a Ctrl-C that arrives while it is still starting ends it quietly (exit 0), as one
    that arrives later does."""
    try:
        _serve_one(settings, reuse_port, first)
    except KeyboardInterrupt:
        pass


def _serve_one(settings: Settings, reuse_port: bool, first: bool = True) -> None:
    from aiohttp import web

    raise_open_files_limit()

    from chatsvc import keys
    from chatsvc.app import create_app
    from storage import users

    no_accounts: list[bool] = []

    def announce(message: str) -> None:
        for line in message.splitlines():
            if "Running on" in line:
                url = line.split("Running on", 1)[1].strip(" =")
                print(f"chatsvc listening on {url}  (Ctrl-C to stop)", flush=True)
                if no_accounts:
                    print(first_start_hint(url), flush=True)

    app = create_app(settings)

    async def freeze_startup_heap(_app: web.Application) -> None:
        # Start-up objects live forever: keep them out of full GC passes, which run on the loop.
        gc.freeze()

    async def count_accounts(app: web.Application) -> None:
        async with app[keys.DB].read() as s:
            if await users.count(s) == 0:
                no_accounts.append(True)

    if first:
        app.on_startup.append(count_accounts)
    async def watch_the_stop(_app: web.Application) -> None:
        # A stop that hangs must say where: every thread's stack goes to stderr if this process is still
        # stopping STOP_WATCHDOG_S later (its close paths are bounded well below that).
        faulthandler.dump_traceback_later(STOP_WATCHDOG_S, exit=False)

    app.on_startup.append(freeze_startup_heap)
    app.on_shutdown.insert(0, watch_the_stop)
    web.run_app(
        app, host=settings.host, port=settings.port, reuse_port=reuse_port or None,
        print=announce, shutdown_timeout=15, access_log=None, ssl_context=tls_context(settings),
    )
    faulthandler.cancel_dump_traceback_later()


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """HTTPS without a proxy in front (the single-file build): a server context with the given chain and key."""
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


def first_start_hint(url: str) -> str:
    """What a new install prints: there is nobody to sign in as yet, and the two ways to make someone."""
    if getattr(sys, "frozen", False):  # the self-contained executable (chatsvc/binary.py)
        command = sys.argv[0] if os.sep in sys.argv[0] else f"./{os.path.basename(sys.argv[0])}"
    else:
        program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0].endswith((".py", ".pyz")) else "run.py"
        command = f"python {program}"
    return (f"No accounts yet. Open {url} and choose \"Create an account\", or create an administrator with:\n"
            f"  {command} create-user --admin --username admin --email admin@example.com")


def create_user_command(settings: Settings, args: argparse.Namespace) -> int:
    interactive = sys.stdin.isatty() and not args.password_stdin
    username = args.username or (input("Username: ").strip() if interactive else "")
    email = args.email or (input("Email: ").strip() if interactive else "")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif args.password:
        password = args.password
    elif interactive:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = ""
    try:
        user = asyncio.run(create_user_in_db(settings, username=username, email=email, password=password,
                                             admin=args.admin, full_name=args.full_name))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created {'admin ' if args.admin else ''}user {user['username']} ({user['id']})")
    return 0


async def create_user_in_db(
    settings: Settings, *, username: str, email: str, password: str, admin: bool = False,
    full_name: str = "", connect_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate and create a user directly in the database (migrating it first); raise ValueError on bad input."""
    import bcrypt
    from pydantic import ValidationError

    from chatsvc.permissions import BUILTIN_ROLES, DEFAULT_ROLE
    from chatsvc.schemas.users import UserRegister
    from storage import rbac, users
    from storage.db import Database
    from storage.migrate import run_migrations_blocking

    try:
        body = UserRegister(email=email, username=username, password=password, full_name=full_name)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, run_migrations_blocking, settings.resolved_database_url, connect_args)
    hashed = await loop.run_in_executor(
        None, lambda: bcrypt.hashpw(body.password.encode(), bcrypt.gensalt(settings.bcrypt_rounds)).decode()
    )
    db = Database(settings.resolved_database_url, connect_args=connect_args)
    try:
        async with db.write() as s:
            await rbac.ensure_builtin_roles(s, BUILTIN_ROLES)
            if await users.taken(s, email=body.email, username=body.username):
                raise ValueError("that username or email is already taken")
            user = await users.create(s, email=body.email, username=body.username, password_hash=hashed,
                                      full_name=body.full_name, is_superuser=admin)
            for name in (DEFAULT_ROLE, "admin") if admin else (DEFAULT_ROLE,):
                role = await rbac.by_name(s, name)
                assert role is not None
                await rbac.assign(s, user.id, role.id)
            return {"id": user.id, "username": user.username}
    finally:
        await db.close()
