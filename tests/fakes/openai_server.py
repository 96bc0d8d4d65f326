"""A local fake of the OpenAI Chat Completions API, so the real `ChatOpenAI` / `openai` SDK run with no network.

It is an aiohttp app bound to 127.0.0.1:0 on the test's own event loop. It speaks the wire format of
docs domain-anchors §3.1: `POST /v1/chat/completions` with `stream: true` (SSE `data: <json>\\n\\n` ... `data: [DONE]`)
or `stream: false` (one `chat.completion` JSON), and `GET /v1/models`.

Usage (the fixture closes the server and fails the test if the fake itself crashed)::

    from tests.fakes.openai_server import Text, ToolCall, Error, chat_openai_kwargs
    from tests.fakes.openai_server import fake_openai  # noqa: F401  (pytest fixture)

    async def test_x(fake_openai):
        fake_openai.script([ToolCall("lookup", {"uid": "REQ-1"}), Text("REQ-1 is covered.")])
        llm = await asyncio.to_thread(lambda: ChatOpenAI(**chat_openai_kwargs(fake_openai)))
        ...
        assert fake_openai.requests[1]["messages"][-1]["role"] == "tool"

Or without the fixture: `fake = await start_fake_openai()` ... `await fake.close()`
(or `async with FakeOpenAI() as fake`).

Choosing the reply to each chat request, in order:
1. the next turn of the script queue (`fake.script([...])` appends; one turn is consumed per valid request);
2. else the rule hook `fake.rule(request_body) -> turn | None` (set `fake.rule = fn` or `fake.on_request(fn)`);
3. else the default: streamed text `"fake reply to: <last user text>"`.

A turn is one of:
- `Text("some words", chunk_size=None)`: content, word by word (or `chunk_size` characters per chunk, or an explicit
  list of chunks), finish_reason "stop" (override with `finish_reason=`).
- `ToolCall(name, {"arg": 1}, call_id=None)`: one tool call; its `arguments` JSON is split into `args_chunk_size`
  character fragments; `id`/`name` only in the first fragment. A list `[ToolCall(...), ToolCall(...)]` is one turn with
  parallel calls (indexes 0, 1, ...); a list may start with a `Text` for content before the calls.
- `StructuredOutput(name, {...})`: the tool call `with_structured_output(method="function_calling")` expects;
  `name=None` takes the function forced by the request's `tool_choice` (or its only tool).
- `Error(status=429, message=...)`: an HTTP error with `{"error": {"message", "type", "code"}}`.
- `StreamError(after_text=..., message=...)`: some content, then `data: {"error": {...}}` inside the stream.
- `MalformedChunk(after_text="partial")`: some content, then a `data: {not json` event (then `[DONE]`).
- `Disconnect(after_text="partial")`: some content, then the server closes the connection, no `[DONE]`.
- `Slow(text, delay_per_chunk)`: a `Text` that sleeps before each content chunk (for cancellation tests).

Every turn accepts `usage={"prompt_tokens": .., "completion_tokens": ..}`; otherwise usage is a deterministic word
count.
The usage chunk (empty `choices`) is sent only when the request has `stream_options.include_usage` (ChatOpenAI:
`stream_usage=True`).

What tests can assert: `fake.requests` (every JSON body posted to /chat/completions, in order, invalid ones included),
`fake.disconnects` (streams the client closed before the end, e.g. on cancel; `await fake.wait_for_disconnects(1)`),
`fake.completed_streams`, `fake.dropped` (Disconnect turns served), `fake.pending` (script turns not yet used),
`fake.errors` (bugs in the fake itself; the fixture fails the test if any).

Validation is deliberately small but real-API shaped: a 400 `invalid_request_error` for a body that is not a JSON
object, a missing/empty `messages` list, a message without a valid `role`, and (like the real API; disable with
`validate_tool_pairing=False`) a `tool` message that does not answer a preceding assistant `tool_calls` id or an
assistant `tool_calls` message whose ids are not all answered by the following tool messages.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

log = logging.getLogger("tests.fakes.openai_server")

__all__ = [
    "Disconnect",
    "Error",
    "FakeOpenAI",
    "MalformedChunk",
    "Slow",
    "StreamError",
    "StructuredOutput",
    "Text",
    "ToolCall",
    "chat_openai_kwargs",
    "fake_openai",
    "start_fake_openai",
]


# --------------------------------------------------------------------------------------------------------------------
# Turns (what a test scripts)
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """Plain assistant content. `chunk_size=None`: one chunk per word (with its trailing space); an int: that many
    characters per chunk. `text` may also be an explicit list of chunks."""

    text: str | Sequence[str]
    chunk_size: int | None = None
    finish_reason: str = "stop"
    delay_per_chunk: float | Sequence[float] = 0.0  # a sequence: the delay before each chunk in turn
    usage: Mapping[str, int] | None = None

    def chunks(self) -> list[str]:
        if not isinstance(self.text, str):
            return [str(c) for c in self.text]
        return split_text(self.text, self.chunk_size)

    @property
    def full_text(self) -> str:
        return "".join(self.chunks())


def Slow(text: str, delay_per_chunk: float = 0.05, chunk_size: int | None = None) -> Text:  # noqa: N802
    """Streamed text with a sleep before each content chunk (cancellation tests)."""
    return Text(text, chunk_size=chunk_size, delay_per_chunk=delay_per_chunk)


@dataclass(frozen=True)
class ToolCall:
    """One tool call. `args` is a dict (JSON-encoded) or a raw string (sent as is, e.g. to test bad JSON)."""

    name: str
    args: Mapping[str, Any] | str = field(default_factory=dict)
    call_id: str | None = None
    args_chunk_size: int = 8
    usage: Mapping[str, int] | None = None


@dataclass(frozen=True)
class StructuredOutput:
    """The forced function call of `with_structured_output(..., method="function_calling")`.
    `name=None`: use the function named by the request's `tool_choice`, else its only tool."""

    name: str | None
    args: Mapping[str, Any]
    usage: Mapping[str, int] | None = None
    delay: float = 0.0  # seconds to think before answering (a slow model, for cancellation tests)


@dataclass(frozen=True)
class Error:
    """An HTTP error reply: `{"error": {"message", "type", "code", "param"}}` with `status`."""

    status: int = 500
    message: str = "fake upstream error"
    type: str | None = None
    code: str | None = None
    headers: Mapping[str, str] | None = None

    def body(self) -> dict[str, Any]:
        default_type, default_code = _ERROR_KINDS.get(self.status, ("api_error", None))
        return {"error": {"message": self.message, "type": self.type or default_type,
                          "code": self.code if self.code is not None else default_code, "param": None}}


_ERROR_KINDS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}


@dataclass(frozen=True)
class StreamError:
    """Some content, then an in-stream `data: {"error": {...}}` event (the SDK raises `openai.APIError`)."""

    after_text: str = ""
    message: str = "fake in-stream error"
    type: str = "server_error"
    code: str | None = None


@dataclass(frozen=True)
class MalformedChunk:
    """Some content, then an event whose data is not JSON (`raw`), then `[DONE]`."""

    after_text: str = ""
    raw: str = "{not json"


@dataclass(frozen=True)
class Disconnect:
    """Some content, then the server drops the connection mid-stream (no terminating chunk, no `[DONE]`)."""

    after_text: str = ""


_SINGLE_TURNS = (Text, ToolCall, StructuredOutput, Error, StreamError, MalformedChunk, Disconnect)
Turn = (Text | ToolCall | StructuredOutput | Error | StreamError | MalformedChunk | Disconnect
        | Sequence[Text | ToolCall])
Rule = Callable[[dict[str, Any]], Turn | None]

_WORDS = re.compile(r"\s*\S+\s*|\s+")


def split_text(text: str, chunk_size: int | None = None) -> list[str]:
    """Word chunks (leading whitespace stays with the first word, trailing whitespace with each word) or fixed-size."""
    if not text:
        return []
    if chunk_size is None:
        parts = _WORDS.findall(text)
        return parts or [text]
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    return [text[i:i + chunk_size] for i in range(0, len(text), chunk_size)]


# --------------------------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class _Reply:
    """A normalised successful reply: optional content, optional tool calls."""

    chunks: list[str]
    tool_calls: list[tuple[str, str, str, int]]  # (id, name, arguments json, fragment size)
    finish_reason: str
    delay_per_chunk: float | Sequence[float] = 0.0
    usage: Mapping[str, int] | None = None

    def delay_before(self, index: int) -> float:
        delays = self.delay_per_chunk
        if isinstance(delays, int | float):
            return float(delays)
        return float(delays[index]) if index < len(delays) else 0.0


class _BadRequest(Exception):
    def __init__(self, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param


class FakeOpenAI:
    """The fake server. Start with `await fake.start()` (or `start_fake_openai()`), stop with `await fake.close()`."""

    def __init__(self, model: str = "fake-model", *, validate_tool_pairing: bool = True) -> None:
        self.model = model
        self.validate_tool_pairing = validate_tool_pairing
        self.rule: Rule | None = None
        self.requests: list[dict[str, Any]] = []
        self.disconnects = 0
        self.completed_streams = 0
        self.dropped = 0
        self.errors: list[BaseException] = []
        self._queue: list[Turn] = []
        self._ids = itertools.count(1)
        self._call_ids = itertools.count(1)
        self._disconnected = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # --- scripting -----------------------------------------------------------------------------------------------

    def script(self, turns: Iterable[Turn]) -> FakeOpenAI:
        """Append turns to the queue; each valid chat request consumes one. Returns self (chainable)."""
        if isinstance(turns, _SINGLE_TURNS):
            raise TypeError("script() takes a list of turns: fake.script([Text('hi')])")
        turns = list(turns)
        for turn in turns:
            if not isinstance(turn, (*_SINGLE_TURNS, list, tuple)):
                raise TypeError(f"not a fake OpenAI turn: {turn!r}")
        self._queue.extend(turns)
        return self

    def on_request(self, rule: Rule | None) -> Rule | None:
        """Set the rule hook (usable as a decorator). It runs when the script queue is empty; None -> default."""
        self.rule = rule
        return rule

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def last_request(self) -> dict[str, Any]:
        return self.requests[-1]

    # --- lifecycle -------------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the fake OpenAI server is not started")
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{model}", self._model)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        # langchain-openai caches its httpx clients per base_url (so per port) for the whole process; a later test
        # that got the same port would reuse pooled connections made on an earlier, closed event loop. Never reuse one.
        for _ in range(50):
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = site.port
            if port not in _USED_PORTS:
                break
            await site.stop()
        else:  # pragma: no cover - the kernel keeps handing out used ports
            raise RuntimeError("could not get an unused port for the fake OpenAI server")
        _USED_PORTS.add(port)
        self.port = port
        return self

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeOpenAI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_for_disconnects(self, n: int = 1, timeout: float = 5.0) -> int:
        """Wait until at least `n` streams were closed by the client; return the count (TimeoutError otherwise)."""
        async with asyncio.timeout(timeout):
            while self.disconnects < n:
                self._disconnected.clear()
                await self._disconnected.wait()
        return self.disconnects

    def _count_disconnect(self) -> None:
        self.disconnects += 1
        self._disconnected.set()

    # --- handlers --------------------------------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [self._model_obj(self.model)]})

    async def _model(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        if name != self.model:
            return web.json_response(Error(404, f"The model `{name}` does not exist").body(), status=404)
        return web.json_response(self._model_obj(name))

    @staticmethod
    def _model_obj(name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 1700000000, "owned_by": "chatsvc-tests"}

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._chat_inner(request)
        except Exception as exc:  # a bug in the fake: make it loud in the test, not a puzzling 500
            log.exception("fake OpenAI server failed")
            self.errors.append(exc)
            return web.json_response(Error(500, f"fake server bug: {exc!r}").body(), status=500)

    async def _chat_inner(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError as exc:
            return _bad_request(f"We could not parse the JSON body of your request. ({exc})")
        self.requests.append(body)
        try:
            _validate(body, self.validate_tool_pairing)
        except _BadRequest as exc:
            return _bad_request(str(exc), exc.code, exc.param)

        turn = self._choose(body)
        if getattr(turn, "delay", 0):
            await asyncio.sleep(turn.delay)
        if isinstance(turn, Error):
            return web.json_response(turn.body(), status=turn.status, headers=dict(turn.headers or {}))
        stream = bool(body.get("stream"))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if not stream:
            return await self._complete(request, body, turn)
        return await self._stream(request, body, turn, include_usage)

    def _choose(self, body: dict[str, Any]) -> Turn:
        if self._queue:
            return self._queue.pop(0)
        if self.rule is not None:
            turn = self.rule(body)
            if turn is not None:
                return turn
        return Text(f"fake reply to: {last_user_text(body)}")

    def _reply(self, body: dict[str, Any], turn: Turn) -> _Reply:
        if isinstance(turn, Text):
            return _Reply(turn.chunks(), [], turn.finish_reason, turn.delay_per_chunk, turn.usage)
        if isinstance(turn, StructuredOutput):
            name = turn.name or _forced_function(body)
            if name is None:
                raise ValueError("StructuredOutput(name=None) needs a request with tool_choice or exactly one tool")
            return _Reply([], [self._call(ToolCall(name, turn.args))], "tool_calls", 0.0, turn.usage)
        if isinstance(turn, ToolCall):
            return _Reply([], [self._call(turn)], "tool_calls", 0.0, turn.usage)
        if isinstance(turn, (list, tuple)):
            texts = [t for t in turn if isinstance(t, Text)]
            calls = [t for t in turn if isinstance(t, ToolCall)]
            if len(texts) + len(calls) != len(turn) or len(texts) > 1 or not turn:
                raise TypeError(f"a list turn holds ToolCall items and at most one Text: {turn!r}")
            chunks = texts[0].chunks() if texts else []
            finish = "tool_calls" if calls else texts[0].finish_reason
            usage = next((t.usage for t in turn if t.usage), None)
            delay = texts[0].delay_per_chunk if texts else 0.0
            return _Reply(chunks, [self._call(c) for c in calls], finish, delay, usage)
        if isinstance(turn, (StreamError, MalformedChunk, Disconnect)):
            return _Reply(split_text(turn.after_text), [], "stop")
        raise TypeError(f"not a fake OpenAI turn: {turn!r}")

    def _call(self, call: ToolCall) -> tuple[str, str, str, int]:
        args = call.args if isinstance(call.args, str) else json.dumps(dict(call.args))
        call_id = call.call_id or f"call_fake{next(self._call_ids):04d}"
        return call_id, call.name, args, max(1, call.args_chunk_size)

    def _usage(self, body: dict[str, Any], reply: _Reply) -> dict[str, int]:
        if reply.usage:
            prompt = int(reply.usage.get("prompt_tokens", 0))
            completion = int(reply.usage.get("completion_tokens", 0))
        else:
            prompt = sum(len(_content_text(m.get("content")).split()) + 1 for m in body["messages"])
            completion = len("".join(reply.chunks).split()) + sum(
                1 + len(args) // 4 for _, _, args, _ in reply.tool_calls)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    async def _complete(self, request: web.Request, body: dict[str, Any], turn: Turn) -> web.StreamResponse:
        """A non-streaming reply (`stream: false`)."""
        reply = self._reply(body, turn)
        if reply.delay_per_chunk:
            await asyncio.sleep(sum(reply.delay_before(i) for i in range(len(reply.chunks))))
            if _closing(request):
                self._count_disconnect()
        if isinstance(turn, StreamError):
            return web.json_response(Error(500, turn.message, turn.type, turn.code).body(), status=500)
        if isinstance(turn, MalformedChunk):
            return web.Response(text=turn.raw, content_type="application/json")
        if isinstance(turn, Disconnect):
            self.dropped += 1
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the client
        message: dict[str, Any] = {"role": "assistant", "content": "".join(reply.chunks) or None, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = [{"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
                                     for cid, name, args, _ in reply.tool_calls]
        return web.json_response({
            "id": f"chatcmpl-fake{next(self._ids):04d}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model") or self.model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
            "usage": self._usage(body, reply),
        })

    async def _stream(self, request: web.Request, body: dict[str, Any], turn: Turn,
                      include_usage: bool) -> web.StreamResponse:
        reply = self._reply(body, turn)
        stream_id = f"chatcmpl-fake{next(self._ids):04d}"
        created = int(time.time())
        model = body.get("model") or self.model
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream",
                                                       "Cache-Control": "no-cache"})

        def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
            choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish,
                                                 "logprobs": None}]
            return {"id": stream_id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "system_fingerprint": "fp_fake", "choices": choices, **extra}

        async def send(data: dict[str, Any] | str) -> None:
            text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
            await resp.write(f"data: {text}\n\n".encode())

        try:
            await resp.prepare(request)
            await send(chunk({"role": "assistant", "content": "", "refusal": None}))
            for index, piece in enumerate(reply.chunks):
                if reply.delay_before(index):
                    await asyncio.sleep(reply.delay_before(index))
                    if _closing(request):
                        raise ConnectionResetError("client went away while the fake was sleeping")
                await send(chunk({"content": piece}))
            for index, (cid, name, args, size) in enumerate(reply.tool_calls):
                await send(chunk({"tool_calls": [{"index": index, "id": cid, "type": "function",
                                                  "function": {"name": name, "arguments": ""}}]}))
                for start in range(0, len(args), size):
                    await send(chunk({"tool_calls": [{"index": index,
                                                      "function": {"arguments": args[start:start + size]}}]}))
            if isinstance(turn, Disconnect):
                self.dropped += 1
                if request.transport is not None:
                    request.transport.close()  # flushes what was written, then EOF without the last chunk
                return resp
            if isinstance(turn, StreamError):
                await send({"error": {"message": turn.message, "type": turn.type, "code": turn.code,
                                      "param": None}})
                await send("[DONE]")
                await resp.write_eof()
                return resp
            if isinstance(turn, MalformedChunk):
                await send(turn.raw)
                await send("[DONE]")
                await resp.write_eof()
                return resp
            await send(chunk({}, reply.finish_reason))
            if include_usage:
                await send(chunk(None, usage=self._usage(body, reply)))
            await send("[DONE]")
            await resp.write_eof()
            self.completed_streams += 1
        except ConnectionResetError:  # aiohttp's ClientConnectionResetError is one: the client closed the stream
            self._count_disconnect()
        except asyncio.CancelledError:  # only with handler_cancellation=True; count it, then let it cancel
            self._count_disconnect()
            raise
        return resp


def _closing(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


def _bad_request(message: str, code: str | None = None, param: str | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error", "code": code,
                                        "param": param}}, status=400)


_USED_PORTS: set[int] = set()
_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


def _validate(body: Any, tool_pairing: bool) -> None:
    if not isinstance(body, dict):
        raise _BadRequest("The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("'messages' must be a non-empty array.", "invalid_type", "messages")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in _ROLES:
            raise _BadRequest(f"Invalid value for 'messages[{i}].role'.", "invalid_value", f"messages[{i}].role")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not all(
                isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("function"), dict)
                and t["function"].get("name") for t in tools):
            raise _BadRequest("Invalid 'tools': each needs type 'function' and function.name.", "invalid_value",
                              "tools")
    if not tool_pairing:
        return
    open_ids: set[str] = set()
    for i, msg in enumerate(messages):
        role = msg["role"]
        if role == "tool":
            if msg.get("tool_call_id") not in open_ids:
                raise _BadRequest(f"Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                                  f"message with 'tool_calls' (messages[{i}], tool_call_id="
                                  f"{msg.get('tool_call_id')!r}).", None, f"messages.[{i}].role")
            open_ids.discard(msg["tool_call_id"])
            continue
        if open_ids:
            raise _BadRequest("An assistant message with 'tool_calls' must be followed by tool messages responding "
                              f"to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                              f"{', '.join(sorted(open_ids))}", None, f"messages.[{i}].role")
        if role == "assistant":
            open_ids = {c.get("id") for c in msg.get("tool_calls") or []}
    if open_ids:
        raise _BadRequest("An assistant message with 'tool_calls' must be followed by tool messages responding to "
                          f"each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                          f"{', '.join(sorted(open_ids))}", None, "messages")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def last_user_text(body: Mapping[str, Any]) -> str:
    """The text of the last `user` message of a request body ("" if none)."""
    for msg in reversed(body.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            return _content_text(msg.get("content"))
    return ""


def _forced_function(body: Mapping[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return str(name)
    tools = body.get("tools") or []
    if len(tools) == 1:
        return str(tools[0]["function"]["name"])
    return None


# --------------------------------------------------------------------------------------------------------------------
# Helpers for tests
# --------------------------------------------------------------------------------------------------------------------


async def start_fake_openai(model: str = "fake-model", **kw: Any) -> FakeOpenAI:
    """Start a fake on the running loop (127.0.0.1, a free port). The caller must `await fake.close()`."""
    return await FakeOpenAI(model, **kw).start()


def chat_openai_kwargs(fake: FakeOpenAI, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for `langchain_openai.ChatOpenAI` pointed at `fake` (no retries, usage on, Chat Completions).
    Build the model off the loop: `await asyncio.to_thread(lambda: ChatOpenAI(**chat_openai_kwargs(fake)))`."""
    kwargs: dict[str, Any] = dict(model=fake.model, base_url=fake.base_url, api_key="test", use_responses_api=False,
                                  stream_usage=True, max_retries=0, timeout=10)
    kwargs.update(overrides)
    return kwargs


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """A started fake OpenAI server, closed after the test; fails the test if the fake itself raised."""
    fake = await start_fake_openai()
    try:
        yield fake
    finally:
        await fake.close()
    if fake.errors:
        pytest.fail(f"the fake OpenAI server failed: {fake.errors[0]!r}", pytrace=False)
