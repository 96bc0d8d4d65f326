"""The offline model: a deterministic chat model that streams word by word and makes real tool calls.

It lets the whole agent path (graph, tools, worker, streaming) run with no network and no weights. It
recognises what a QA user asks (list, search or explain requirements, generate test cases, run or
summarise coverage, list artifacts, help) and answers from the tools' results.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent.answers import compose_answer

UID_RE = re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d{1,5}\b")

HELP = (
    "I'm chatsvc's built-in **offline model**: I don't use a language model service, so I answer from "
    "templates and from your project's data. I can:\n\n"
    "- **list requirements** of the current document\n"
    "- **search requirements** about a topic (\"find requirements about login\")\n"
    "- **explain a requirement** by id (\"explain REQ-3\")\n"
    "- **generate test cases** (for all requirements, or \"for REQ-1 and REQ-2\")\n"
    "- **run coverage** analysis, or give the **coverage summary**\n"
    "- **list artifacts** (test cases, coverage reports, notes)\n\n"
    "Configure an OpenAI-compatible server to chat freely."
)


def plan(text: str) -> tuple[str, dict[str, Any]] | str:
    """Decide what a user message asks: (tool name, args) to call, or a text answer."""
    lower = text.lower().strip()
    uids = list(dict.fromkeys(UID_RE.findall(text)))
    if not lower or re.fullmatch(r"(help|\?|hi|hello|hey)[.!?]*|what can you do\??", lower) or "help" in lower:
        return HELP
    if re.search(r"\b(generate|create|write|draft|make|produce)\b.*\btests?\b", lower) or "test case" in lower \
            and re.search(r"\b(generate|create|write|make|new)\b", lower):
        return "generate_test_cases", ({"requirement_uids": uids} if uids else {})
    if "coverage" in lower:
        if re.search(r"\b(run|start|compute|calculate|analy[sz]e|analysis|check|measure|update|refresh)\b", lower):
            return "run_coverage_analysis", {}
        return "get_coverage_summary", {}
    if uids:
        return "get_requirement", {"uid": uids[0]}
    match = re.search(r"\b(?:search|find|look for|looking for|about|related to|mentions?|regarding)\b\s+(.+)", lower)
    if match and "requirement" in lower or match and re.search(r"\b(search|find)\b", lower):
        query = re.sub(r"^(requirements?\s+)?(about|for|on|regarding|that mention)\s+", "", match.group(1))
        query = query.strip(" ?.!\"'")
        if query:
            return "search_requirements", {"query": query}
    if re.search(r"\brequirements?\b", lower):
        return "list_requirements", {}
    if re.search(r"\b(artifacts?|reports?|test cases?|tests|summari[sz]e|notes?)\b", lower):
        return "list_artifacts", {}
    return (
        "I'm the **offline model**, so I only understand a few requests. I can:" + HELP.split("I can:", 1)[1]
        .replace("Configure", "Ask me one of those, or configure")
    )


def words(text: str) -> list[str]:
    """Split text into streamable pieces that concatenate back to exactly the text."""
    return re.findall(r"\S+\s*|\s+", text)


class OfflineChatModel(BaseChatModel):
    """Deterministic, tool-calling, word-by-word streaming model (see module docstring)."""

    tokens_per_s: float = 50.0

    @property
    def _llm_type(self) -> str:
        return "chatsvc-offline"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _decide(self, messages: list[BaseMessage],
                tools: list[dict[str, Any]] | None) -> tuple[str, dict[str, Any] | None]:
        """Return (text to stream, tool call or None) for this turn."""
        tool_names = {t["function"]["name"] for t in tools or []}
        if messages and isinstance(messages[-1], ToolMessage):
            results = []
            for message in reversed(messages):
                if not isinstance(message, ToolMessage):
                    break
                results.append((message.name or "", str(message.content)))
            return "\n\n".join(compose_answer(name, content) for name, content in reversed(results)), None
        last_human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        decision = plan(str(last_human.content) if last_human else "")
        if isinstance(decision, str):
            return decision, None
        name, args = decision
        if name not in tool_names:
            return "I can't use that tool in this chat.", None
        call_id = "call_" + hashlib.sha256(f"{len(messages)}:{name}:{json.dumps(args)}".encode()).hexdigest()[:16]
        return PREFACE.get(name, ""), {"name": name, "args": args, "id": call_id}

    def _chunks(self, text: str, call: dict[str, Any] | None) -> Iterator[AIMessageChunk]:
        for piece in words(text):
            yield AIMessageChunk(content=piece)
        if call is not None:
            yield AIMessageChunk(content="", tool_call_chunks=[{
                "name": call["name"], "args": json.dumps(call["args"]), "id": call["id"], "index": 0,
            }])

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        text, call = self._decide(messages, kwargs.get("tools"))
        message = AIMessage(content=text, tool_calls=[{"name": call["name"], "args": call["args"], "id": call["id"]}]
                            if call else [])
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        text, call = self._decide(messages, kwargs.get("tools"))
        delay = 1 / self.tokens_per_s if self.tokens_per_s > 0 else 0
        for chunk in self._chunks(text, call):
            if delay and chunk.content:
                time.sleep(delay)
            if run_manager and chunk.content:
                run_manager.on_llm_new_token(str(chunk.content), chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        text, call = self._decide(messages, kwargs.get("tools"))
        delay = 1 / self.tokens_per_s if self.tokens_per_s > 0 else 0
        for chunk in self._chunks(text, call):
            if chunk.content:
                await asyncio.sleep(delay)  # also a cancellation point between tokens
            generation = ChatGenerationChunk(message=chunk)
            if run_manager and chunk.content:
                await run_manager.on_llm_new_token(str(chunk.content), chunk=generation)
            yield generation


PREFACE = {
    "list_requirements": "Let me fetch the requirements. ",
    "search_requirements": "Searching the requirements. ",
    "get_requirement": "Looking that requirement up. ",
    "generate_test_cases": "I'll start test-case generation. ",
    "run_coverage_analysis": "I'll start a coverage analysis. ",
    "get_coverage_summary": "Let me read the latest coverage report. ",
    "list_artifacts": "Let me list the project's artifacts. ",
}
