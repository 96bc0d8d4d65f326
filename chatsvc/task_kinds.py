"""What each kind of background task does: test-case generation and coverage analysis.

The pure parts (agent/testgen.py, agent/coverage.py) run off the loop: small inputs in the cpu thread
pool (measured at a few ms), large ones — and every LLM call — in the agent worker processes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from concurrent.futures import Executor
from typing import Any

from chatsvc.agent_pool import AgentPool
from chatsvc.events import EventBus, project_topic, publish_resource
from chatsvc.schemas.artifacts import artifact_json
from chatsvc.settings import Settings
from chatsvc.task_manager import TaskContext, TaskError, TaskKind
from storage import agentdata, artifacts
from storage.db import Database

CHUNK = 8
INLINE_COVERAGE_PAIRS = 20_000  # requirements x test cases below this run in a thread (a few ms)


def task_kinds(*, db: Database, bus: EventBus, cpu: Executor, agents: AgentPool,
               settings: Settings) -> dict[str, TaskKind]:
    """Bind the task kinds to these services."""

    async def in_thread(fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(cpu, fn, *args)

    async def load(ctx: TaskContext) -> tuple[Any, list[dict[str, Any]]]:
        async with db.read() as s:
            version = await agentdata.resolve_version(s, ctx.project_id, ctx.params.get("document_version_id"))
            if version is None:
                raise TaskError("The document version no longer exists.")
            return version, await agentdata.requirements_of(s, version.id)

    async def save(ctx: TaskContext, version: Any, type_: str, name: str, content: Any) -> str:
        async with db.write() as s:
            artifact = await artifacts.create(
                s, project_id=ctx.project_id, document_version_id=version.id, type=type_, name=name,
                content=content, created_by=ctx.created_by, task_id=ctx.task_id)
            data = artifact_json(artifact)
        publish_resource(bus, [project_topic(ctx.project_id)], "artifact", "created", data, ctx.created_by)
        return artifact.id

    async def test_generation(ctx: TaskContext) -> dict[str, Any]:
        from agent.testgen import chunk_requirements, generate_test_cases

        version, requirements = await load(ctx)
        wanted = ctx.params.get("requirement_uids")
        if wanted:
            known = {r["uid"] for r in requirements}
            missing = sorted(set(wanted) - known)
            if missing:
                raise TaskError(f"Unknown requirement ids: {', '.join(missing[:10])}.")
            requirements = [r for r in requirements if r["uid"] in set(wanted)]
        if not requirements:
            raise TaskError("The document has no requirements to write tests for.")
        chunks = chunk_requirements(requirements, CHUNK)
        cases: list[dict[str, Any]] = []
        await ctx.progress(0, len(requirements), "Writing test cases")
        done = 0
        for chunk in chunks:
            ctx.check_cancel()
            if settings.llm == "openai":
                from agent.providers import provider_settings

                raw = await agents.job("testgen_llm", {"requirements": chunk,
                                                                 "provider": provider_settings(settings)})
                cases.extend(normalise_llm_cases(raw, chunk))
            else:
                cases.extend(await in_thread(generate_test_cases, chunk))
            done += len(chunk)
            await ctx.progress(done, len(requirements), f"Wrote tests for {done} of {len(requirements)} requirements")
        name = f"Test cases for {version.title} v{version.number}"
        artifact_id = await save(ctx, version, "test_cases", name, {"test_cases": cases})
        return {"artifact_id": artifact_id, "test_case_count": len(cases), "document_version_id": version.id}

    async def coverage(ctx: TaskContext) -> dict[str, Any]:
        from agent.coverage import analyse_coverage

        version, requirements = await load(ctx)
        async with db.read() as s:
            cases = await agentdata.project_test_cases(s, ctx.project_id)
        await ctx.progress(0, 2, "Matching test cases to requirements")
        args = {"requirements": requirements, "test_cases": cases, "document_version_id": version.id,
                "generated_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")}
        if len(requirements) * max(1, len(cases)) <= INLINE_COVERAGE_PAIRS:
            report = await in_thread(lambda: analyse_coverage(**args))
        else:
            report = await agents.job("coverage", args)
        ctx.check_cancel()
        await ctx.progress(1, 2, "Saving the report")
        name = f"Coverage of {version.title} v{version.number}"
        artifact_id = await save(ctx, version, "coverage_report", name, report)
        await ctx.progress(2, 2, "Done")
        return {"artifact_id": artifact_id, "coverage_pct": report["summary"]["coverage_pct"],
                "document_version_id": version.id}

    return {"test_generation": test_generation, "coverage": coverage}


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
