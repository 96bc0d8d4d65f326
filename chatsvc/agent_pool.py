"""The server side of agent workers: a pool of worker processes (or threads, for tests) running graphs.

The pool starts workers lazily, gives each run to the least busy one, routes what comes back (token
batches, tool calls, results) to the run's listener, executes tool calls on the server loop, and
replaces a worker that died after failing its runs. Nothing Python-heavy runs on the server's loop:
frames are small (token batches, tool calls, job arguments and results of a few KiB), and big job inputs
and results are files in the pool's spool directory (agent/spool.py), read and written by the worker.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import socket
import threading
from typing import Any, Protocol

from agent.spool import Spool, json_lines
from agent.worker import RunHost, encode, read_frame, worker_main
from chatsvc.shutdown import TaskSet, stop_tasks, wait_bounded

log = logging.getLogger("chatsvc.agent_pool")

WORKER_STOP_S = 12.0  # a process worker is joined for 5 s, then killed and joined 5 s more


class RunListener(Protocol):
    """What the pool tells about one run (implemented by the RunManager)."""

    def on_tokens(self, text: str, produced_at: float | None = None) -> None: ...
    def on_finished(self, kind: str, message: dict[str, Any]) -> None: ...  # done | cancelled | error
    async def on_tool_call(self, name: str, args: dict[str, Any]) -> str: ...  # runs on the server loop




class Worker:
    """One worker (process or thread) and the runs and jobs it holds."""

    def __init__(self, pool: AgentPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.runs: set[str] = set()
        self.jobs: set[str] = set()
        self.ready = asyncio.get_running_loop().create_future()
        self.alive = True

    def load(self) -> int:
        return len(self.runs) + len(self.jobs)

    def send(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError


# Workers start from a fork server: a clean single-threaded process (none of the server's threads,
# sockets or loop are inherited, which is why plain fork is not used) that imported the agent stack
# once, so each new or replacement worker is ready in milliseconds instead of re-importing langchain.
WORKER_PRELOAD = ["agent.worker", "agent.graph", "agent.offline", "agent.tools", "langgraph.graph",
                  "langgraph.prebuilt", "langchain_openai"]
_context: multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext | None = None


def worker_context() -> multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext:
    """The multiprocessing context for agent workers (forkserver with the agent stack preloaded)."""
    global _context
    if _context is None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            forkserver = multiprocessing.get_context("forkserver")
            forkserver.set_forkserver_preload(WORKER_PRELOAD)
            _context = forkserver
        else:  # pragma: no cover - platforms without fork
            _context = multiprocessing.get_context("spawn")
    return _context


class ProcessWorker(Worker):
    """A worker process with its own interpreter; frames over a socket pair."""

    async def start(self) -> None:
        parent, child = socket.socketpair()
        try:
            ctx = worker_context()
            self.process = ctx.Process(target=worker_main, args=(child,), daemon=True,
                                       name=f"chatsvc-agent-{self.index}")
            await asyncio.get_running_loop().run_in_executor(None, self.process.start)
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()  # the worker holds its own copy now
        try:
            self.reader, self.writer = await asyncio.open_connection(sock=parent)
        except BaseException:  # cancelled (the app is closing): leave no socket or process behind
            parent.close()
            self.process.kill()
            raise
        self.read_task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                message = await read_frame(self.reader)
                if message.get("t") == "ready":
                    if not self.ready.done():
                        self.ready.set_result(None)
                    continue
                self.pool.dispatch(self, message)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writer.close()  # the pipe is done: its socket must not wait for the garbage collector
            self.pool.worker_died(self)

    def send(self, message: dict[str, Any]) -> None:
        if self.alive:
            self.writer.write(encode(message))

    async def stop(self) -> None:
        self.alive = False
        try:
            self.writer.write(encode({"t": "shutdown"}))
            self.writer.close()
        except (ConnectionError, RuntimeError):
            pass
        await stop_tasks([self.read_task], "agent worker pipe reader", timeout=2.0)
        await asyncio.get_running_loop().run_in_executor(None, self._join)

    def _join(self) -> None:
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


class ThreadWorker(Worker):
    """The same RunHost on a thread of the server process (CHATSVC_AGENT_EXECUTOR=thread: tests, debugging).

    Tool calls go straight to the server loop with run_coroutine_threadsafe.
    """

    async def start(self) -> None:
        server_loop = asyncio.get_running_loop()
        started = threading.Event()
        pool = self.pool

        def to_server(message: dict[str, Any]) -> None:
            server_loop.call_soon_threadsafe(pool.dispatch, self, message)

        class DirectGateway:
            def __init__(self, host: RunHost, run_id: str) -> None:
                self.host = host
                self.run_id = run_id

            async def call(self, name: str, args: dict[str, Any]) -> str:
                self.host.tokens.flush()  # the text streamed before the call reaches the server first
                future = asyncio.run_coroutine_threadsafe(pool.execute_tool(self.run_id, name, args), server_loop)
                return await asyncio.wrap_future(future)

        def main() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.host = RunHost(to_server, DirectGateway)
            started.set()
            self.loop.run_forever()
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

        self.thread = threading.Thread(target=main, name=f"chatsvc-agent-thread-{self.index}", daemon=True)
        self.thread.start()
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        self.ready.set_result(None)

    def send(self, message: dict[str, Any]) -> None:
        if self.alive:
            self.loop.call_soon_threadsafe(self.host.handle, message)

    async def stop(self) -> None:
        self.alive = False
        self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.get_running_loop().run_in_executor(None, self.thread.join, 10)


class AgentPool:
    """Workers, the runs and jobs they hold, and the routing between them and the server."""

    def __init__(self, *, mode: str, size: int) -> None:
        self.mode = mode
        self.size = max(1, size)
        self.workers: list[Worker] = []
        self.listeners: dict[str, RunListener] = {}
        self.run_worker: dict[str, Worker] = {}
        self.jobs: dict[str, asyncio.Future[Any]] = {}
        self._job_ids = itertools.count(1)
        self._starting: asyncio.Lock | None = None
        self._tool_tasks = TaskSet("agent tool calls")
        self.spool = Spool()  # big job inputs and results, as files
        self.closed = False

    async def _worker(self) -> Worker:
        """Return the least busy live worker, starting one while the pool is below its size."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            live = [w for w in self.workers if w.alive]
            if len(live) < self.size and (not live or min(w.load() for w in live) > 0):
                cls: type[ProcessWorker | ThreadWorker] = ProcessWorker if self.mode == "process" else ThreadWorker
                started = cls(self, len(self.workers))
                await started.start()
                self.workers.append(started)
                live.append(started)
        worker = min(live, key=Worker.load)
        await worker.ready
        return worker

    async def start_run(self, run_id: str, request: dict[str, Any], listener: RunListener) -> None:
        """Hand a run (plain data: history, provider) to a worker; events go to `listener`."""
        worker = await self._worker()
        self.listeners[run_id] = listener
        self.run_worker[run_id] = worker
        worker.runs.add(run_id)
        worker.send({"t": "run", "run_id": run_id, **request})

    def cancel(self, run_id: str) -> None:
        worker = self.run_worker.get(run_id)
        if worker is not None:
            worker.send({"t": "cancel", "run_id": run_id})

    async def content_job(self, name: str, args: dict[str, Any], *, source: str,
                          pieces: list[str]) -> dict[str, Any]:
        """Run a job that may change a content: `pieces` (a stored content's JSON text) go to spool file
        `args[source]`; the job writes a changed content's text to spool file `out` and its revision rows as
        JSON lines to `rows`. When its answer says `changed`, it carries them back as `content_text` and `rows`
        (the rows decoded a line per loop slice). The spool files are removed whatever happens."""
        paths = {source: self.spool.path(name), "out": self.spool.path(f"{name}-out"),
                 "rows": self.spool.path(f"{name}-rows")}
        try:
            await self.spool.write(paths[source], pieces)
            answer: dict[str, Any] = await self.job(name, {**args, **paths})
            if answer.get("changed"):
                answer["content_text"] = await self.spool.read(paths["out"])
                answer["rows"] = [item async for batch in json_lines(await self.spool.read(paths["rows"]))
                                  for item in batch]
            return answer
        finally:
            await self.spool.discard(*paths.values())

    async def job(self, name: str, args: dict[str, Any]) -> Any:
        """Run a heavy job on a worker and return its result.

        `args` and the result cross the pipe as JSON encoded and decoded on this loop: keep them to a few
        hundred KiB at most and pass bigger data as paths from `self.spool` (see agent/jobs.py).
        """
        worker = await self._worker()
        job_id = f"j{next(self._job_ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.jobs[job_id] = future
        worker.jobs.add(job_id)
        worker.send({"t": "job", "job_id": job_id, "name": name, "args": args})
        try:
            return await future
        finally:
            self.jobs.pop(job_id, None)
            worker.jobs.discard(job_id)

    def dispatch(self, worker: Worker, message: dict[str, Any]) -> None:
        """Route one message from a worker (runs on the server loop; never blocks)."""
        kind = message.get("t")
        if kind == "tokens":  # every run's text since the last batch
            for run_id, text, produced_at in message["items"]:
                listener = self.listeners.get(run_id)
                if listener is not None:
                    listener.on_tokens(text, produced_at)
            return
        if kind in ("job_done", "job_failed"):
            future = self.jobs.get(message["job_id"])
            if future is not None and not future.done():
                if kind == "job_done":
                    future.set_result(message["result"])
                else:
                    future.set_exception(JobFailed(message["message"]))
            return
        run_id = message.get("run_id", "")
        listener = self.listeners.get(run_id)
        if listener is None:
            return
        if kind == "tool_call":
            self._tool_tasks.spawn(self._answer_tool(worker, message))
        elif kind in ("done", "cancelled", "error"):
            self._forget(run_id)
            listener.on_finished(kind, message)

    async def _answer_tool(self, worker: Worker, message: dict[str, Any]) -> None:
        result = await self.execute_tool(message["run_id"], message["name"], message["args"])
        worker.send({"t": "tool_result", "run_id": message["run_id"], "call_id": message["call_id"], "result": result})

    async def execute_tool(self, run_id: str, name: str, args: dict[str, Any]) -> str:
        """Run a tool on the server loop through the run's listener (its caller's permissions); errors become
        results."""
        from agent.tools import tool_result

        listener = self.listeners.get(run_id)
        if listener is None:
            return tool_result({"error": "This run is over."})
        try:
            return await listener.on_tool_call(name, args)
        except Exception as exc:  # a broken tool must not break the run
            log.exception("tool %s failed", name)
            return tool_result({"error": f"The tool failed: {type(exc).__name__}"})

    def _forget(self, run_id: str) -> None:
        self.listeners.pop(run_id, None)
        worker = self.run_worker.pop(run_id, None)
        if worker is not None:
            worker.runs.discard(run_id)

    def worker_died(self, worker: Worker) -> None:
        """Fail the runs and jobs of a dead worker; the next run starts a replacement."""
        if not worker.alive:
            return
        worker.alive = False
        if self.closed:
            return
        log.error("agent worker %s died; failing its %d runs", worker.index, len(worker.runs))
        for run_id in list(worker.runs):
            listener = self.listeners.get(run_id)
            self._forget(run_id)
            if listener is not None:
                listener.on_finished("error", {"run_id": run_id, "message": "The agent worker process stopped "
                                               "unexpectedly; please try again.", "text": None})
        for job_id in list(worker.jobs):
            future = self.jobs.get(job_id)
            if future is not None and not future.done():
                future.set_exception(JobFailed("The agent worker process stopped unexpectedly."))
        if not worker.ready.done():
            worker.ready.set_exception(JobFailed("The agent worker process could not start."))

    async def close(self) -> None:
        self.closed = True
        await self._tool_tasks.stop()
        stops = [asyncio.ensure_future(w.stop()) for w in self.workers if w.alive]
        await wait_bounded(stops, "agent workers", timeout=WORKER_STOP_S)
        await self.spool.close()


class JobFailed(RuntimeError):
    """A worker job failed; the message is safe to show."""
