"""Heavy one-shot jobs a worker runs for the server: extraction, test generation and coverage of large inputs.

A job's arguments and result are small JSON; big inputs and outputs are spool files named in the arguments
(agent/spool.py), read and written here, in the worker process, never decoded on the server's loop:

  extract   {content, out, per_line}   requirements of the document text in `content`, to `out` as JSON lines
  testgen   {requirements, chunk, provider, out, start}   test cases of a batch of requirements (offline
            templates per chunk, or the model when `provider` is given), appended to the JSON array in `out`
            (comma-separated after the first, which begins at byte `start`); returns {count}
  coverage  {requirements, test_cases, document_version_id, generated_at, out}   the coverage report of the
            requirements file against the test_cases artifact contents files, to `out`; returns {coverage_pct}
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from agent import spool

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
    if name == "extract":
        return await asyncio.to_thread(extract_job, args)
    if name == "testgen":
        if args.get("provider"):
            cases = normalise_llm_cases(await _llm_testgen(args, model_for), args["requirements"])
        else:
            cases = await asyncio.to_thread(offline_cases, args["requirements"], args["chunk"])
        return await asyncio.to_thread(append_cases, args["out"], args["start"], cases)
    if name == "coverage":
        return await asyncio.to_thread(coverage_job, args)
    raise ValueError(f"unknown job {name!r}")


def extract_job(args: dict[str, Any]) -> dict[str, Any]:
    """Extract the requirements of a spooled document; write them as JSON lines."""
    from agent.requirements import extract_requirements

    requirements = extract_requirements(spool.read_text(args["content"]))
    spool.write_lines(args["out"], requirements, args["per_line"])
    return {"count": len(requirements)}


def offline_cases(requirements: list[dict[str, Any]], chunk: int) -> list[dict[str, Any]]:
    """Template test cases chunk by chunk, exactly as the task writes them in-process for small documents."""
    from agent.testgen import chunk_requirements, generate_test_cases

    cases: list[dict[str, Any]] = []
    for part in chunk_requirements(requirements, chunk):
        cases.extend(generate_test_cases(part))
    return cases


def append_cases(path: str, start: int, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Append test cases to the JSON array being written in `path` (whose first item begins at byte `start`)."""
    with open(path, "ab") as fh:
        first = fh.tell() <= start
    if cases:
        spool.write_text(path, [("" if first else ",") + ",".join(spool.dumps(case) for case in cases)],
                         append=True)
    return {"count": len(cases)}


def coverage_report(requirements: list[dict[str, Any]], contents: list[Any], *, document_version_id: str,
                    generated_at: str) -> dict[str, Any]:
    """The coverage report of requirements against the contents of the project's test_cases artifacts."""
    from agent.coverage import analyse_coverage, merge_test_cases

    return analyse_coverage(requirements, merge_test_cases(contents), document_version_id=document_version_id,
                            generated_at=generated_at)


def coverage_job(args: dict[str, Any]) -> dict[str, Any]:
    """Coverage of spooled requirements and test-case artifacts; the report goes to `out`."""
    requirements = json.loads(spool.read_text(args["requirements"]))
    contents = [json.loads(spool.read_text(path)) for path in args["test_cases"]]
    report = coverage_report(requirements, contents, document_version_id=args["document_version_id"],
                             generated_at=args["generated_at"])
    spool.write_text(args["out"], [spool.dumps(report)])
    return {"coverage_pct": report["summary"]["coverage_pct"]}


async def _llm_testgen(args: dict[str, Any], model_for: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    """Ask the model for test cases of one requirement chunk, as structured output (function calling)."""
    requirements = args["requirements"]
    lines = "\n".join(f"- {r['uid']} ({r['priority']}): {r['statement']}" for r in requirements)
    llm = model_for(args["provider"]).with_structured_output(LlmTestCaseBatch, method="function_calling")
    batch: LlmTestCaseBatch = await llm.ainvoke(LLM_TESTGEN_PROMPT.format(requirements=lines))
    return [case.model_dump() for case in batch.test_cases]


def normalise_llm_cases(raw: list[dict[str, Any]], chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give LLM-written cases stable ids and fingerprinted links to the requirements they name."""
    by_uid = {r["uid"]: r for r in chunk}
    out = []
    for case in raw:
        uids = [u for u in case.get("requirement_uids", []) if u in by_uid]
        if not uids:
            continue
        digest = hashlib.sha256(f"{case['title']}|{'|'.join(by_uid[u]['fingerprint'] for u in uids)}".encode())
        out.append({
            **case,
            "id": "TC-" + digest.hexdigest()[:10].upper(),
            "requirement_uids": uids,
            "links": [{"req_uid": u, "fingerprint": by_uid[u]["fingerprint"], "origin": "generated"} for u in uids],
        })
    return out
