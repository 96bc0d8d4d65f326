"""The worker side of agent runs: a host that runs many graphs concurrently on its own event loop.

In process mode (the default) the host lives in a spawned worker process and talks to the server
over a socket with length-prefixed JSON frames; in thread mode it lives on a thread of the server
process. Either way it receives plain data and sends back:

  tokens {items: [[run_id, text, at], ...]}   text streamed since the last batch by every run of the
                                 host, one message per ~10 ms; `at` is when the run's first token in the
                                 batch was produced (time.time(), which the server's clock agrees with)
  tool_call {run_id, call_id, name, args}   (process mode: answered by tool_result)
  done {run_id, text, usage}     the run finished; text is the whole reply
  cancelled {run_id, text}       stopped on request, with the text so far
  error {run_id, message, text}  failed, with the text so far
  job_done {job_id, result} | job_failed {job_id, message}   the end of a heavy job (agent/jobs.py)

Frames are encoded and decoded on the server's event loop, so they stay small: a job's big inputs and
results travel as spool files named in its arguments (agent/spool.py), never inside a frame.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import struct
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import orjson

log = logging.getLogger("chatsvc.agent.worker")

# 10 ms: the server's coalescing window counts from a token's production, so a token held here past the
# server's flush waits one more window; this bounds that wait (at 50 tokens/s a batch is one token anyway).
FLUSH_S = 0.01
WORKER_NICE = 10
HEADER = struct.Struct("!I")
BIG_FRAME = 1 << 20  # ~10 ms of the server's loop to encode or decode: such data belongs in a spool file
Send = Callable[[dict[str, Any]], None]


# orjson: the pipe carries ~100 token batches a second per worker, each encoded there and decoded on the
# server's loop (the json module's decoding was 4 % of the loop in the streaming profile). Datetimes go to
# `default` as with json (str()), so a frame reads the same either way; what orjson refuses (ints past 64
# bits) falls back to the json module.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def encode(message: dict[str, Any]) -> bytes:
    try:
        body = orjson.dumps(message, default=str, option=_ORJSON_OPTIONS)
    except TypeError:
        body = json.dumps(message, separators=(",", ":"), default=str).encode()
    if len(body) > BIG_FRAME:
        log.warning("a %d KiB %r frame on the agent worker pipe: pass big data as spool files (agent/spool.py)",
                    len(body) >> 10, message.get("t"))
    return HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    body = await reader.readexactly(size)
    try:
        message: dict[str, Any] = orjson.loads(body)
    except orjson.JSONDecodeError:  # NaN or a huge int from the json module's fallback
        message = json.loads(body)
    return message


class TokenBatch:
    """Streamed text of every run of a host, sent as ONE message at most every FLUSH_S seconds.

    One message per flush for all runs, not one per run: with 64 runs at 50 tokens/s a per-run batch
    was one message per token (3200/s), each a frame to encode, write, read and decode.
    """

    def __init__(self, send: Send) -> None:
        self.send = send
        self.pending: dict[str, tuple[float, list[str]]] = {}  # run id -> (first piece produced at, pieces)
        self._timer: asyncio.TimerHandle | None = None

    def add(self, run_id: str, piece: str) -> None:
        entry = self.pending.get(run_id)
        if entry is None:
            self.pending[run_id] = (time.time(), [piece])
        else:
            entry[1].append(piece)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_S, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.pending:
            items = [[run_id, "".join(pieces), at] for run_id, (at, pieces) in self.pending.items()]
            self.pending.clear()
            self.send({"t": "tokens", "items": items})


class PipeGateway:
    """Process mode: a tool call is a message to the server; the answer comes back as tool_result."""

    def __init__(self, host: RunHost, run_id: str) -> None:
        self.host = host
        self.run_id = run_id

    async def call(self, name: str, args: dict[str, Any]) -> str:
        call_id = secrets.token_hex(8)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.host.pending_tools[call_id] = future
        self.host.send({"t": "tool_call", "run_id": self.run_id, "call_id": call_id, "name": name, "args": args})
        try:
            return await future
        finally:
            self.host.pending_tools.pop(call_id, None)


GatewayFactory = Callable[["RunHost", str], Any]

# The gateway of the run whose task is executing: set by RunHost._run, inherited by the tasks the graph
# starts for its tools. It lets one compiled graph (and one set of tools) serve every run of a worker.
_run_gateway: ContextVar[Any] = ContextVar("chatsvc_run_gateway")


class CurrentRunGateway:
    """The tools' gateway: forwards each call to the gateway of the run that makes it."""

    async def call(self, name: str, args: dict[str, Any]) -> str:
        result: str = await _run_gateway.get().call(name, args)
        return result


class RunHost:
    """Run agent graphs as tasks on this loop; route tool results and cancels to them."""

    def __init__(self, send: Send, gateway_factory: GatewayFactory = PipeGateway) -> None:
        self._send = send
        self.tokens = TokenBatch(send)
        self.gateway_factory = gateway_factory
        self.runs: dict[str, asyncio.Task[None]] = {}
        self.jobs: set[asyncio.Task[None]] = set()
        self.pending_tools: dict[str, asyncio.Future[str]] = {}
        self._models: dict[str, Any] = {}
        self._graphs: dict[str, Any] = {}

    def send(self, message: dict[str, Any]) -> None:
        """Send a message to the server, after the text streamed before it (keeps the order)."""
        self.tokens.flush()
        self._send(message)

    def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("t")
        if kind == "run":
            run_id: str = message["run_id"]
            task = asyncio.get_running_loop().create_task(self._run(message))
            self.runs[run_id] = task
            task.add_done_callback(lambda _t: self.runs.pop(run_id, None))
        elif kind == "tool_result":
            future = self.pending_tools.get(message["call_id"])
            if future is not None and not future.done():
                future.set_result(message["result"])
        elif kind == "cancel":
            running = self.runs.get(message["run_id"])
            if running is not None:
                running.cancel()
        elif kind == "job":  # kept until done: the loop holds only weak references to tasks
            job = asyncio.get_running_loop().create_task(self._job(message))
            self.jobs.add(job)
            job.add_done_callback(self.jobs.discard)

    def _model(self, provider: dict[str, Any]) -> Any:
        from agent.providers import build_model

        key = json.dumps(provider, sort_keys=True)
        if key not in self._models:
            self._models[key] = build_model(provider)
        return self._models[key]

    def _graph(self, provider: dict[str, Any]) -> Any:
        """The compiled graph for a provider, built once: compiling it per run cost ~9 ms of CPU."""
        from agent.graph import build_graph
        from agent.tools import build_langchain_tools

        key = json.dumps(provider, sort_keys=True)
        if key not in self._graphs:
            self._graphs[key] = build_graph(self._model(provider), build_langchain_tools(CurrentRunGateway()))
        return self._graphs[key]

    async def _run(self, message: dict[str, Any]) -> None:
        from langchain_core.messages import AIMessageChunk

        from agent.graph import RECURSION_LIMIT, to_messages

        run_id = message["run_id"]
        text: list[str] = []
        usage: dict[str, int] = {}
        _run_gateway.set(self.gateway_factory(self, run_id))  # this task's context only
        try:
            graph = self._graph(message["provider"])
            stream = graph.astream({"messages": to_messages(message["history"])},
                                   {"recursion_limit": RECURSION_LIMIT}, stream_mode="messages")
            async for chunk, meta in stream:
                if not isinstance(chunk, AIMessageChunk) or meta.get("langgraph_node") != "agent":
                    continue
                if chunk.text:
                    text.append(chunk.text)
                    self.tokens.add(run_id, chunk.text)
                if chunk.usage_metadata:
                    for key in ("input_tokens", "output_tokens"):
                        count: Any = chunk.usage_metadata.get(key) or 0
                        usage[key] = usage.get(key, 0) + int(count)
            self.send({"t": "done", "run_id": run_id, "text": "".join(text), "usage": usage})
        except asyncio.CancelledError:
            self.send({"t": "cancelled", "run_id": run_id, "text": "".join(text)})
        except Exception as exc:  # the run fails; the host keeps serving others
            log.warning("run %s failed: %s", run_id, exc)
            self.send({"t": "error", "run_id": run_id, "message": describe_error(exc), "text": "".join(text)})

    async def _job(self, message: dict[str, Any]) -> None:
        """Run a CPU- or LLM-heavy job (e.g. LLM test generation for a chunk) and send its result."""
        from agent.jobs import run_job

        try:
            result = await run_job(message["name"], message["args"], self._model)
            self.send({"t": "job_done", "job_id": message["job_id"], "result": result})
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            self.send({"t": "job_failed", "job_id": message["job_id"], "message": describe_error(exc)})


def describe_error(exc: BaseException) -> str:
    """A sentence a user can act on, without internals."""
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    service = _model_service_error(exc, text)
    if service is not None:
        return service
    if isinstance(exc, json.JSONDecodeError):
        return "The model service sent a malformed response."
    if type(exc).__name__ == "GraphRecursionError":
        return "The agent took too many steps without finishing."
    return f"The agent failed: {text}"


def _model_service_error(exc: BaseException, text: str) -> str | None:
    """Describe an error of the OpenAI client (429, timeout, connection, status), or None."""
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai brings it
        return None
    if isinstance(exc, openai.RateLimitError):
        return f"The model service is rate limiting requests (429): {text}"
    if isinstance(exc, openai.APITimeoutError):
        return "The model service did not answer in time."
    if isinstance(exc, openai.APIConnectionError):
        return "The connection to the model service failed or was cut off."
    if isinstance(exc, openai.APIStatusError):
        return f"The model service answered with an error ({exc.status_code}): {text}"
    if isinstance(exc, openai.APIError):
        return f"The model service reported an error: {text}"
    return None


# --- process mode: the worker process's main ---------------------------------------------------

def worker_main(sock: socket.socket) -> None:
    """Entry point of a spawned worker process."""
    logging.basicConfig(level=logging.WARNING)
    # Below the server in the CPU scheduler: when cores are short, the loop that answers every request and
    # socket runs first and the graphs wait (measured with 64 runs on 2 cores: REST p99 about halved).
    os.nice(WORKER_NICE)
    try:
        asyncio.run(_serve(sock), debug=False)  # never inherit asyncio debug mode: it slows every future
    except KeyboardInterrupt:
        pass


async def _serve(sock: socket.socket) -> None:
    import langchain_core.messages  # noqa: F401 - import the heavy stack once, before saying ready
    import langgraph.graph  # noqa: F401

    reader, writer = await asyncio.open_connection(sock=sock)

    def send(message: dict[str, Any]) -> None:
        writer.write(encode(message))

    host = RunHost(send)
    send({"t": "ready"})
    while True:
        try:
            message = await read_frame(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            break  # the server went away
        if message.get("t") == "shutdown":
            break
        host.handle(message)
    for task in list(host.runs.values()):
        task.cancel()
    await asyncio.gather(*host.runs.values(), return_exceptions=True)
    writer.close()


