"""The fake OpenAI server (tests/fakes/openai_server.py) driven by the real langchain-openai `ChatOpenAI` and the
openai SDK.

These tests pin both the fake's wire format and what each failure mode looks like from `ChatOpenAI`'s side, so code that
handles LLM errors can be tested against real exception types. Sync `ChatOpenAI` calls run in a thread (they block);
building a `ChatOpenAI` also runs in a thread (it is heavy the first time) so the 50 ms loop guard holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from pydantic import BaseModel, Field

from tests.fakes.openai_server import (
    Disconnect,
    Error,
    FakeOpenAI,
    MalformedChunk,
    Slow,
    StreamError,
    StructuredOutput,
    Text,
    ToolCall,
    chat_openai_kwargs,
    fake_openai,  # noqa: F401  (pytest fixture)
    split_text,
)


@tool
def lookup_requirement(uid: str) -> str:
    """Look up a requirement by its uid."""
    return f"{uid}: The system shall log every login attempt."


@tool
def count_tests(uid: str, status: str = "approved") -> int:
    """Count the test cases linked to a requirement."""
    return 3


class Case(BaseModel):
    title: str
    steps: list[str] = Field(default_factory=list)


class Batch(BaseModel):
    """A batch of generated test cases."""

    cases: list[Case]


async def make_llm(fake: FakeOpenAI, **overrides: Any) -> ChatOpenAI:
    return await asyncio.to_thread(lambda: ChatOpenAI(**chat_openai_kwargs(fake, **overrides)))


@pytest.fixture
async def llm(fake_openai: FakeOpenAI) -> ChatOpenAI:  # noqa: F811
    return await make_llm(fake_openai)


def stream_chunks(runnable: Any, inp: Any) -> list[AIMessageChunk]:
    return list(runnable.stream(inp))


def stream_until_error(runnable: Any, inp: Any) -> tuple[list[AIMessageChunk], BaseException]:
    """Stream in a worker thread; return the chunks received before the error, and the error.
    (Raising through `await to_thread` would make pytest build the deep langchain traceback on the loop.)"""
    got: list[AIMessageChunk] = []
    try:
        for chunk in runnable.stream(inp):
            got.append(chunk)
    except Exception as exc:  # noqa: BLE001
        return got, exc
    raise AssertionError(f"no error; streamed {got!r}")


def invoke_error(runnable: Any, inp: Any) -> BaseException:
    try:
        result = runnable.invoke(inp)
    except Exception as exc:  # noqa: BLE001
        return exc
    raise AssertionError(f"no error; got {result!r}")


def merge(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    return total


# ------------------------------------------------------------------------------------------------------------------
# Text, usage, defaults
# ------------------------------------------------------------------------------------------------------------------


async def test_streamed_text_arrives_in_several_chunks(fake_openai: FakeOpenAI, llm: ChatOpenAI) -> None:  # noqa: F811
    fake_openai.script([Text("Three requirements are covered.")])
    chunks = await asyncio.to_thread(stream_chunks, llm, [SystemMessage("be brief"), HumanMessage("coverage?")])
    texts = [c.content for c in chunks if c.content]
    assert texts == ["Three ", "requirements ", "are ", "covered."]
    total = merge(chunks)
    assert total.content == "Three requirements are covered."
    assert total.response_metadata["finish_reason"] == "stop"
    assert total.usage_metadata == {"input_tokens": 5, "output_tokens": 4, "total_tokens": 9,
                                    "input_token_details": {}, "output_token_details": {}}
    body = fake_openai.requests[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"content": "be brief", "role": "system"}, {"content": "coverage?", "role": "user"}]
    assert fake_openai.completed_streams == 1 and fake_openai.pending == 0


async def test_async_astream_and_chunk_size(fake_openai: FakeOpenAI, llm: ChatOpenAI) -> None:  # noqa: F811
    fake_openai.script([Text("abcdefghij", chunk_size=4, usage={"prompt_tokens": 7, "completion_tokens": 3})])
    chunks = [c async for c in llm.astream("hi")]
    assert [c.content for c in chunks if c.content] == ["abcd", "efgh", "ij"]
    assert merge(chunks).usage_metadata["total_tokens"] == 10


async def test_invoke_without_streaming_and_default_reply(fake_openai: FakeOpenAI, llm: ChatOpenAI) -> None:  # noqa: F811
    # Empty script: the default is a deterministic echo of the last user message.
    msg = await asyncio.to_thread(llm.invoke, "list the requirements")
    assert isinstance(msg, AIMessage)
    assert msg.content == "fake reply to: list the requirements"
    assert msg.usage_metadata is not None and msg.usage_metadata["output_tokens"] == 6
    assert fake_openai.requests[0]["stream"] is False


async def test_usage_chunk_only_when_requested(fake_openai: FakeOpenAI) -> None:  # noqa: F811
    llm = await make_llm(fake_openai, stream_usage=False)
    chunks = await asyncio.to_thread(stream_chunks, llm, "hi")
    assert "stream_options" not in fake_openai.requests[0]
    assert merge(chunks).usage_metadata is None


async def test_rule_hook_answers_by_request_content(fake_openai: FakeOpenAI, llm: ChatOpenAI) -> None:  # noqa: F811
    @fake_openai.on_request
    def rule(body: dict[str, Any]) -> Any:
        if body.get("tools") and body["messages"][-1]["role"] != "tool":
            return ToolCall("lookup_requirement", {"uid": "REQ-7"})
        return None  # fall back to the default echo

    bound = llm.bind_tools([lookup_requirement])
    first = await asyncio.to_thread(bound.invoke, "REQ-7?")
    assert first.tool_calls[0]["args"] == {"uid": "REQ-7"}
    plain = await asyncio.to_thread(llm.invoke, "hello")
    assert plain.content == "fake reply to: hello"
    # Scripted turns take precedence over the rule.
    fake_openai.script([Text("scripted")])
    assert (await asyncio.to_thread(bound.invoke, "x")).content == "scripted"


# ------------------------------------------------------------------------------------------------------------------
# Tool calls and structured output
# ------------------------------------------------------------------------------------------------------------------


async def test_tool_call_streamed_in_fragments(fake_openai: FakeOpenAI, llm: ChatOpenAI) -> None:  # noqa: F811
    fake_openai.script([ToolCall("lookup_requirement", {"uid": "REQ-001"}, call_id="call_abc", args_chunk_size=5)])
    bound = llm.bind_tools([lookup_requirement])
    chunks = await asyncio.to_thread(stream_chunks, bound, "what does REQ-001 say?")
    fragments = [tc for c in chunks for tc in c.tool_call_chunks]
    assert len(fragments) > 3
    assert fragments[0]["id"] == "call_abc" and fragments[0]["name"] == "lookup_requirement"
    assert all(f["id"] is None and f["name"] is None for f in fragments[1:])
    total = merge(chunks)
    assert total.tool_calls == [{"name": "lookup_requirement", "args": {"uid": "REQ-001"}, "id": "call_abc",
                                 "type": "tool_call"}]
    assert total.response_metadata["finish_reason"] == "tool_calls"
    sent_tools = fake_openai.requests[0]["tools"]
    assert sent_tools[0]["type"] == "function"
    assert sent_tools[0]["function"]["name"] == "lookup_requirement"
    assert sent_tools[0]["function"]["parameters"]["properties"] == {"uid": {"type": "string"}}


async def test_parallel_tool_calls_invoke_and_stream(fake_openai: FakeOpenAI, llm: ChatOpenAI) -> None:  # noqa: F811
    turn = [Text("Checking both."), ToolCall("lookup_requirement", {"uid": "REQ-1"}),
            ToolCall("count_tests", {"uid": "REQ-1", "status": "draft"})]
    fake_openai.script([turn, turn])
    bound = llm.bind_tools([lookup_requirement, count_tests])
    msg = await asyncio.to_thread(bound.invoke, "check REQ-1")
    assert msg.content == "Checking both."
    assert [(c["name"], c["args"]) for c in msg.tool_calls] == [
        ("lookup_requirement", {"uid": "REQ-1"}), ("count_tests", {"uid": "REQ-1", "status": "draft"})]
    assert len({c["id"] for c in msg.tool_calls}) == 2
    total = merge(await asyncio.to_thread(stream_chunks, bound, "check REQ-1"))
    assert total.content == "Checking both."
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [(c["name"], c["args"]) for c in msg.tool_calls]


async def test_structured_output_function_calling(fake_openai: FakeOpenAI, llm: ChatOpenAI) -> None:  # noqa: F811
    payload = {"cases": [{"title": "Login is logged", "steps": ["log in", "check the log"]}]}
    fake_openai.script([StructuredOutput(None, payload), StructuredOutput("Batch", payload)])
    structured = llm.with_structured_output(Batch, method="function_calling")
    result = await asyncio.to_thread(structured.invoke, "generate tests for REQ-1")
    assert result == Batch(cases=[Case(title="Login is logged", steps=["log in", "check the log"])])
    body = fake_openai.requests[0]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Batch"}}
    assert body["tools"][0]["function"]["name"] == "Batch"
    # Streaming the structured runnable yields parsed objects too.
    parts = await asyncio.to_thread(lambda: list(structured.stream("again")))
    assert parts[-1] == result


# ------------------------------------------------------------------------------------------------------------------
# Failure modes, as ChatOpenAI reports them
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, exc_type, message", [
    (429, openai.RateLimitError, "Error code: 429 - Rate limit reached"),
    (500, openai.InternalServerError, "Error code: 500 - upstream exploded"),
])
async def test_http_errors_raise_sdk_errors(fake_openai: FakeOpenAI, llm: ChatOpenAI, status: int,  # noqa: F811
                                            exc_type: type[Exception], message: str) -> None:
    text = "Rate limit reached" if status == 429 else "upstream exploded"
    fake_openai.script([Error(status, text), Error(status, text)])
    error = await asyncio.to_thread(invoke_error, llm, "hi")
    assert isinstance(error, exc_type)
    assert str(error) == message
    assert error.status_code == status
    assert error.body["message"] == text
    # langchain-openai 1.7 re-raises its own subclasses (OpenAIRateLimitError / OpenAIAPIError), chained to the SDK's.
    assert type(error).__module__ == "langchain_openai.chat_models.base"
    assert type(error.__cause__) is exc_type
    got, error = await asyncio.to_thread(stream_until_error, llm, "hi")
    assert isinstance(error, exc_type)
    assert got == []
    assert len(fake_openai.requests) == 2  # max_retries=0: no retry


async def test_malformed_chunk_raises_after_partial_text(fake_openai: FakeOpenAI, llm: ChatOpenAI) -> None:  # noqa: F811
    fake_openai.script([MalformedChunk(after_text="partial answer")])
    got, error = await asyncio.to_thread(stream_until_error, llm, "hi")
    # The SDK's sse.json() raises the bare json error: no openai/langchain wrapper.
    assert type(error) is json.JSONDecodeError
    assert "".join(c.content for c in got) == "partial answer"


async def test_in_stream_error_event_raises_api_error(fake_openai: FakeOpenAI, llm: ChatOpenAI) -> None:  # noqa: F811
    fake_openai.script([StreamError(after_text="half of it", message="model overloaded")])
    got, error = await asyncio.to_thread(stream_until_error, llm, "hi")
    assert type(error) is openai.APIError  # the plain base class: not a status error, not wrapped
    assert error.message == "model overloaded" and error.body["type"] == "server_error"
    assert "".join(c.content for c in got) == "half of it"


async def test_disconnect_mid_stream_raises_connection_error(fake_openai: FakeOpenAI,  # noqa: F811
                                                             llm: ChatOpenAI) -> None:
    fake_openai.script([Disconnect(after_text="partial words"), Disconnect()])
    got, error = await asyncio.to_thread(stream_until_error, llm, "hi")
    # It raises (it does not end quietly): httpx sees an incomplete chunked body -> openai.APIConnectionError,
    # re-raised by langchain-openai as OpenAIConnectionError("Connection error.").
    assert isinstance(error, openai.APIConnectionError) and str(error) == "Connection error."
    assert type(error).__name__ == "OpenAIConnectionError"
    assert "".join(c.content for c in got) == "partial words"
    with pytest.raises(openai.APIConnectionError):  # the async client behaves the same
        async for _ in llm.astream("hi"):
            pass
    assert fake_openai.dropped == 2 and fake_openai.disconnects == 0


async def test_disconnect_without_streaming(fake_openai: FakeOpenAI, llm: ChatOpenAI) -> None:  # noqa: F811
    fake_openai.script([Disconnect()])
    assert isinstance(await asyncio.to_thread(invoke_error, llm, "hi"), openai.APIConnectionError)


async def test_unpaired_tool_message_is_rejected_like_the_real_api(fake_openai: FakeOpenAI,  # noqa: F811
                                                                   llm: ChatOpenAI) -> None:
    history = [HumanMessage("hi"), ToolMessage("orphan result", tool_call_id="call_missing")]
    error = await asyncio.to_thread(invoke_error, llm, history)
    assert isinstance(error, openai.BadRequestError) and error.status_code == 400
    assert "must be a response to a preceeding message" in str(error)
    unanswered = [HumanMessage("hi"), AIMessage("", tool_calls=[{"name": "lookup_requirement", "args": {},
                                                                  "id": "call_1"}]), HumanMessage("and?")]
    error = await asyncio.to_thread(invoke_error, llm, unanswered)
    assert isinstance(error, openai.BadRequestError) and "call_1" in str(error)


# ------------------------------------------------------------------------------------------------------------------
# Cancellation closes the upstream stream
# ------------------------------------------------------------------------------------------------------------------


async def test_cancelling_astream_closes_the_upstream_stream(fake_openai: FakeOpenAI, llm: ChatOpenAI,  # noqa: F811
                                                             caplog: pytest.LogCaptureFixture) -> None:
    fake_openai.script([Slow("one two three four five six seven eight", delay_per_chunk=0.05)])
    first = asyncio.Event()
    got: list[str] = []

    async def consume() -> None:
        async for chunk in llm.astream("count"):
            if chunk.content:
                got.append(chunk.content)
                first.set()

    with caplog.at_level(logging.DEBUG, logger="aiohttp"):
        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await fake_openai.wait_for_disconnects(1) == 1
    assert 1 <= len(got) < 8
    assert fake_openai.completed_streams == 0
    assert [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("aiohttp")] == []


async def test_closing_a_sync_stream_closes_the_upstream_stream(fake_openai: FakeOpenAI, llm: ChatOpenAI,  # noqa: F811
                                                                caplog: pytest.LogCaptureFixture) -> None:
    fake_openai.script([Slow("one two three four five six", delay_per_chunk=0.05)])

    def read_first_then_close() -> str:
        gen = llm.stream("count")
        for chunk in gen:
            if chunk.content:
                gen.close()  # what a worker does on a stop request
                return str(chunk.content)
        return ""

    with caplog.at_level(logging.DEBUG, logger="aiohttp"):
        assert await asyncio.to_thread(read_first_then_close) == "one "
        assert await fake_openai.wait_for_disconnects(1) == 1
    assert fake_openai.completed_streams == 0
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# ------------------------------------------------------------------------------------------------------------------
# LangGraph: StateGraph(MessagesState) + ToolNode against the fake
# ------------------------------------------------------------------------------------------------------------------


def build_graph(llm: ChatOpenAI) -> Any:
    tools = [lookup_requirement]
    llm_t = llm.bind_tools(tools)

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm_t.invoke([SystemMessage("You are the QA assistant."), *state["messages"]])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile()


async def test_langgraph_tool_loop_streams_messages(fake_openai: FakeOpenAI, llm: ChatOpenAI) -> None:  # noqa: F811
    fake_openai.script([ToolCall("lookup_requirement", {"uid": "REQ-001"}, call_id="call_lr1"),
                        Text("REQ-001 says every login attempt is logged.")])

    def run() -> list[tuple[Any, dict[str, Any]]]:
        graph = build_graph(llm)
        return list(graph.stream({"messages": [("user", "What is REQ-001?")]}, {"recursion_limit": 10},
                                 stream_mode="messages"))

    events = await asyncio.to_thread(run)
    by_node: dict[str, list[Any]] = {}
    for message, meta in events:
        by_node.setdefault(meta["langgraph_node"], []).append(message)
    agent_text = "".join(m.content for m in by_node["agent"] if isinstance(m, AIMessageChunk))
    assert agent_text == "REQ-001 says every login attempt is logged."
    assert sum(1 for m in by_node["agent"] if m.content) > 3  # token by token, not one blob
    (tool_msg,) = by_node["tools"]
    assert isinstance(tool_msg, ToolMessage) and tool_msg.tool_call_id == "call_lr1"
    assert tool_msg.content == "REQ-001: The system shall log every login attempt."

    # Under stream_mode="messages" ChatOpenAI streams even from .invoke() inside the node.
    assert [r["stream"] for r in fake_openai.requests] == [True, True]
    second = fake_openai.requests[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "tool"]
    assert second[0]["content"] == "You are the QA assistant."
    assert second[2]["content"] is None
    assert second[2]["tool_calls"] == [{"id": "call_lr1", "type": "function", "function": {
        "name": "lookup_requirement", "arguments": '{"uid": "REQ-001"}'}}]
    assert second[3] == {"content": "REQ-001: The system shall log every login attempt.", "role": "tool",
                         "tool_call_id": "call_lr1"}


# ------------------------------------------------------------------------------------------------------------------
# The wire format itself, and the non-chat endpoints
# ------------------------------------------------------------------------------------------------------------------


async def read_sse(resp: aiohttp.ClientResponse) -> list[str]:
    raw = (await resp.read()).decode()
    assert raw.endswith("\n\n")
    events = raw.split("\n\n")[:-1]
    assert all(e.startswith("data: ") for e in events)
    return [e[len("data: "):] for e in events]


async def test_raw_stream_wire_format(fake_openai: FakeOpenAI) -> None:  # noqa: F811
    fake_openai.script([[Text("Hi there"), ToolCall("a", {"x": "yz" * 10}, args_chunk_size=6), ToolCall("b", {})]])
    body = {"model": "m1", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "go"}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{fake_openai.base_url}/chat/completions", json=body) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "text/event-stream"
            datas = await read_sse(resp)
    assert datas[-1] == "[DONE]"
    chunks = [json.loads(d) for d in datas[:-1]]
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m1" and isinstance(c["created"], int)
               for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "Hi there"
    calls = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    for index, name, args in [(0, "a", json.dumps({"x": "yz" * 10})), (1, "b", "{}")]:
        frags = [tc for tc in calls if tc["index"] == index]
        assert frags[0]["function"] == {"name": name, "arguments": ""} and frags[0]["id"].startswith("call_")
        assert all("id" not in f and "name" not in f["function"] for f in frags[1:])
        assert "".join(f["function"]["arguments"] for f in frags) == args
    assert len([tc for tc in calls if tc["index"] == 0]) > 3
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "tool_calls", "logprobs": None}
    assert chunks[-1]["choices"] == [] and set(chunks[-1]["usage"]) == {"prompt_tokens", "completion_tokens",
                                                                        "total_tokens"}


async def test_bad_requests_get_400_json(fake_openai: FakeOpenAI) -> None:  # noqa: F811
    async with aiohttp.ClientSession() as session:
        url = f"{fake_openai.base_url}/chat/completions"
        for payload in [{"model": "m"}, {"model": "m", "messages": []}, {"messages": [{"content": "x"}]}, [1]]:
            async with session.post(url, json=payload) as resp:
                assert resp.status == 400
                assert (await resp.json())["error"]["type"] == "invalid_request_error"
        async with session.post(url, data=b"{nope", headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 400
    assert len(fake_openai.requests) == 4  # every parsed body is recorded, valid or not
    assert fake_openai.pending == 0


async def test_models_endpoint_via_sdk(fake_openai: FakeOpenAI) -> None:  # noqa: F811
    def run() -> list[str]:
        client = openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0)
        try:
            return [m.id for m in client.models.list()]
        finally:
            client.close()

    assert await asyncio.to_thread(run) == ["fake-model"]


def test_split_text() -> None:
    assert split_text("a  b c") == ["a  ", "b ", "c"]
    assert split_text(" lead") == [" lead"]
    assert split_text("abcde", 2) == ["ab", "cd", "e"]
    assert split_text("") == []
