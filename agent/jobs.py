"""Heavy one-shot jobs a worker runs for the server: coverage of large inputs, LLM test generation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

LLM_TESTGEN_PROMPT = (
    "You write software test cases. For each requirement below write one or more test cases: a positive "
    "case, a negative case for every prohibition (shall not / must not), and boundary cases for numeric "
    "limits. Every case must list the requirement uid it verifies in requirement_uids. Be concrete.\n\n"
    "Requirements:\n{requirements}"
)


class LlmStep(BaseModel):
    action: str
    expected: str


class LlmTestCase(BaseModel):
    title: str
    preconditions: str = ""
    steps: list[LlmStep] = Field(min_length=1)
    expected_result: str
    priority: str = Field("medium", pattern="^(high|medium|low)$")
    type: str = Field("functional", pattern="^(functional|negative|boundary)$")
    requirement_uids: list[str] = Field(min_length=1)


class LlmTestCaseBatch(BaseModel):
    """Test cases for a batch of requirements."""

    test_cases: list[LlmTestCase]


async def run_job(name: str, args: dict[str, Any], model_for: Callable[[dict[str, Any]], Any]) -> Any:
    """Run one named job; CPU-bound ones on a thread of the worker so its event loop keeps streaming."""
    if name == "coverage":
        from agent.coverage import analyse_coverage

        return await asyncio.to_thread(lambda: analyse_coverage(**args))
    if name == "testgen_llm":
        return await _llm_testgen(args, model_for)
    raise ValueError(f"unknown job {name!r}")


async def _llm_testgen(args: dict[str, Any], model_for: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    """Ask the model for test cases of one requirement chunk, as structured output (function calling)."""
    requirements = args["requirements"]
    lines = "\n".join(f"- {r['uid']} ({r['priority']}): {r['statement']}" for r in requirements)
    llm = model_for(args["provider"]).with_structured_output(LlmTestCaseBatch, method="function_calling")
    batch: LlmTestCaseBatch = await llm.ainvoke(LLM_TESTGEN_PROMPT.format(requirements=lines))
    return [case.model_dump() for case in batch.test_cases]
