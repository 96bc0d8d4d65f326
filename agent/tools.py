"""The agent's tools: their argument schemas (plain data the worker binds to the model) and the ToolGateway.

Tools run in the SERVER process with the caller's permissions; inside a worker a tool is only a
request over the gateway. The gateway has two transports (pipe RPC in process mode, the server loop
directly in thread mode) behind one interface.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pydantic import BaseModel, Field


class DocArgs(BaseModel):
    document_version_id: str | None = Field(None, description="A document version id; default: the current one")


class ListRequirementsArgs(DocArgs):
    limit: int = Field(50, ge=1, le=200, description="How many requirements to return")


class SearchRequirementsArgs(DocArgs):
    query: str = Field(min_length=1, max_length=500, description="Words to look for in requirements")
    limit: int = Field(10, ge=1, le=50)


class GetRequirementArgs(DocArgs):
    uid: str = Field(min_length=1, max_length=64, description="The requirement id, e.g. REQ-12")


class GenerateTestCasesArgs(DocArgs):
    requirement_uids: list[str] | None = Field(None, description="Only these requirements; default: all")


class ListArtifactsArgs(BaseModel):
    type: str | None = Field(None, description="test_cases, coverage_report, note, ...")
    limit: int = Field(20, ge=1, le=100)


TOOL_SPECS: dict[str, tuple[str, type[BaseModel]]] = {
    "list_requirements": ("List the requirements of the project's current (or a given) document version.",
                          ListRequirementsArgs),
    "search_requirements": ("Search the requirements for words or a topic.", SearchRequirementsArgs),
    "get_requirement": ("Get one requirement by its id, with its full statement.", GetRequirementArgs),
    "generate_test_cases": ("Start generating test cases for the requirements (a background task); "
                            "returns the task id at once.", GenerateTestCasesArgs),
    "run_coverage_analysis": ("Start a coverage analysis of the test cases against the requirements "
                              "(a background task); returns the task id at once.", DocArgs),
    "get_coverage_summary": ("Get the summary of the latest coverage report.", DocArgs),
    "list_artifacts": ("List the project's artifacts (test cases, coverage reports, notes).", ListArtifactsArgs),
}

TOOL_NAMES = tuple(TOOL_SPECS)


class ToolGateway(Protocol):
    """What a running graph calls to execute a tool; the answer is the tool's JSON result as text."""

    async def call(self, name: str, args: dict[str, Any]) -> str: ...


def build_langchain_tools(gateway: ToolGateway) -> list[Any]:
    """Wrap every tool spec as a langchain StructuredTool whose body asks the gateway."""
    from langchain_core.tools import StructuredTool

    tools = []
    for name, (description, schema) in TOOL_SPECS.items():
        tools.append(StructuredTool.from_function(
            coroutine=_caller(gateway, name), name=name, description=description, args_schema=schema,
        ))
    return tools


def _caller(gateway: ToolGateway, name: str) -> Callable[..., Awaitable[str]]:
    async def call(**kwargs: Any) -> str:
        return await gateway.call(name, {k: v for k, v in kwargs.items() if v is not None})

    return call


def tool_result(data: Any) -> str:
    """Serialise a tool's answer for the model."""
    return json.dumps(data, default=str, ensure_ascii=False)
