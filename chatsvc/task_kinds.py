"""What each kind of background task does: test-case generation and coverage analysis.

The pure parts (agent/testgen.py, agent/coverage.py) run off the loop: small inputs in the cpu thread
pool (measured at a few ms), large ones — and every LLM call — in the agent worker processes. Large
inputs and results travel as spool files (agent/spool.py): a worker writes the artifact's JSON text and
the server stores that text as it is, so a 50 MB artifact is never built, encoded or validated on the loop.

A test generation's result counts where its cases came from — `test_case_count`, `model_case_count`,
`offline_case_count` (the offline generator's, also where the model's answer did not validate) and
`rejected_model_cases` — and its `message` (also the task's last stage) says so in words.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from concurrent.futures import Executor
from typing import Any

from agent import spool
from agent.jobs import coverage_report
from agent.testgen import chunk_requirements, generate_test_cases
from chatsvc.agent_pool import AgentPool
from chatsvc.events import EMBED_LIMIT, EventBus, project_topic, publish_resource, resource_event
from chatsvc.schemas.artifacts import ArtifactOut
from chatsvc.settings import Settings
from chatsvc.task_manager import TaskContext, TaskError, TaskKind
from storage import agentdata, rawjson
from storage.db import Database

CHUNK = 8  # requirements per test-generation step (one LLM call)
BATCH = 64 * CHUNK  # offline generation in a worker: requirements per job (~20 ms of work), progress between jobs;
# a multiple of CHUNK, so that the chunks (and the test-case ids) are those of the in-process path
INLINE_TESTGEN = 64  # offline generation of at most this many requirements runs in a thread (a few ms)
INLINE_COVERAGE_PAIRS = 20_000  # requirements x test cases below this run in a thread (a few ms)
CASE_CHARS = 200  # a test case's JSON is rarely shorter: stored text / this estimates the test cases
TEST_CASES_PREFIX = '{"test_cases":['


def task_kinds(*, db: Database, bus: EventBus, cpu: Executor, agents: AgentPool,
               settings: Settings) -> dict[str, TaskKind]:
    """Bind the task kinds to these services."""

    async def in_thread(fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(cpu, fn, *args)

    async def load(ctx: TaskContext) -> tuple[agentdata.VersionRef, list[dict[str, Any]]]:
        async with db.read() as s:
            version = await agentdata.resolve_version(s, ctx.project_id, ctx.params.get("document_version_id"))
            if version is None:
                raise TaskError("The document version no longer exists.")
            return version, await agentdata.requirements_of(s, version.id)

    async def save(ctx: TaskContext, version: agentdata.VersionRef, type_: str, name: str, text: str) -> str:
        """Store an artifact from its content's JSON text and announce it (with the content only when small)."""
        async with db.write() as s:
            row = await rawjson.create_artifact(
                s, project_id=ctx.project_id, document_version_id=version.id, type=type_, name=name,
                content_text=text, created_by=ctx.created_by, task_id=ctx.task_id)
        topics = [project_topic(ctx.project_id)]
        if len(text) <= EMBED_LIMIT:  # may ride along in the event: decoding it is cheap
            resource = ArtifactOut.model_validate({**row, "content": json.loads(text)}).model_dump(mode="json")
            publish_resource(bus, topics, "artifact", "created", resource, ctx.created_by)
        else:  # its JSON is longer still in the event's encoding: ids only, as publish_resource would send
            event, data = resource_event("artifact", "created", id=row["id"], version=row["version"],
                                         actor=ctx.created_by)
            bus.publish(topics, event, data)
        return str(row["id"])

    async def test_generation(ctx: TaskContext) -> dict[str, Any]:
        version, requirements = await load(ctx)
        wanted = ctx.params.get("requirement_uids")
        if wanted:
            known = {r["uid"] for r in requirements}
            missing = sorted(set(wanted) - known)
            if missing:
                raise TaskError(f"Unknown requirement ids: {', '.join(missing[:10])}.")
            keep = set(wanted)
            requirements = [r for r in requirements if r["uid"] in keep]
        if not requirements:
            raise TaskError("The document has no requirements to write tests for.")
        await ctx.progress(0, len(requirements), "Writing test cases")
        if settings.llm != "openai" and len(requirements) <= INLINE_TESTGEN:
            text, tally = await generate_inline(ctx, requirements)
        else:
            text, tally = await generate_in_workers(ctx, requirements)
        total = len(requirements)
        await spool.release(requirements)
        name = f"Test cases for {version.title} v{version.number}"
        artifact_id = await save(ctx, version, "test_cases", name, text)
        message = generation_message(tally, total, settings.llm == "openai")
        await ctx.progress(total, total, message)
        return {"artifact_id": artifact_id, "test_case_count": tally["count"], "model_case_count": tally["model"],
                "offline_case_count": tally["offline"], "rejected_model_cases": tally["rejected"],
                "message": message, "document_version_id": version.id}

    async def generate_inline(ctx: TaskContext, requirements: list[dict[str, Any]]) -> tuple[str, dict[str, int]]:
        cases: list[dict[str, Any]] = []
        done = 0
        for chunk in chunk_requirements(requirements, CHUNK):
            ctx.check_cancel()
            cases.extend(await in_thread(generate_test_cases, chunk))
            done += len(chunk)
            await ctx.progress(done, len(requirements), f"Wrote tests for {done} of {len(requirements)} requirements")
        tally = {"count": len(cases), "model": 0, "offline": len(cases), "rejected": 0}
        return await in_thread(spool.dumps, {"test_cases": cases}), tally

    async def generate_in_workers(ctx: TaskContext,
                                  requirements: list[dict[str, Any]]) -> tuple[str, dict[str, int]]:
        """Batches of requirements to the workers, which append their cases to one spooled JSON array."""
        provider = None
        if settings.llm == "openai":
            from agent.providers import provider_settings

            provider = provider_settings(settings)
        out = agents.spool.path("test-cases")
        try:
            await agents.spool.write(out, [TEST_CASES_PREFIX])
            tally = {"count": 0, "model": 0, "offline": 0, "rejected": 0}
            done = 0
            for batch in chunk_requirements(requirements, CHUNK if provider else BATCH):
                ctx.check_cancel()
                result = await agents.job("testgen", {"requirements": batch, "chunk": CHUNK, "provider": provider,
                                                      "out": out, "start": len(TEST_CASES_PREFIX)})
                for key in tally:
                    tally[key] += int(result.get(key, 0))
                done += len(batch)
                await ctx.progress(done, len(requirements),
                                   f"Wrote tests for {done} of {len(requirements)} requirements")
            await agents.spool.write(out, ["]}"], append=True)
            return await agents.spool.read(out), tally
        finally:
            await agents.spool.discard(out)

    async def coverage(ctx: TaskContext) -> dict[str, Any]:
        version, requirements = await load(ctx)
        async with db.read() as s:
            stored = await agentdata.test_case_artifacts(s, ctx.project_id)
            contents = [await agentdata.content_pieces(s, artifact_id) for artifact_id, _size in stored]
            runs = [await agentdata.content_pieces(s, run_id)
                    for run_id in await agentdata.test_run_artifacts(s, ctx.project_id, version.id)]
        await ctx.progress(0, 2, "Matching test cases to requirements")
        generated_at = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        if len(requirements) * max(1, sum(size for _id, size in stored) // CASE_CHARS) <= INLINE_COVERAGE_PAIRS:
            texts = ["".join(pieces) for pieces in contents]
            run_texts = ["".join(pieces) for pieces in runs]
            text, pct = await in_thread(cover_inline, requirements, texts, version.id, generated_at, run_texts)
        else:
            text, pct = await cover_in_worker(requirements, contents, version.id, generated_at, runs)
        await spool.release(requirements)
        ctx.check_cancel()
        await ctx.progress(1, 2, "Saving the report")
        name = f"Coverage of {version.title} v{version.number}"
        artifact_id = await save(ctx, version, "coverage_report", name, text)
        await ctx.progress(2, 2, "Done")
        return {"artifact_id": artifact_id, "coverage_pct": pct, "document_version_id": version.id}

    async def cover_in_worker(requirements: list[dict[str, Any]], contents: list[list[str]], version_id: str,
                              generated_at: str, runs: list[list[str]]) -> tuple[str, float]:
        """Spool the inputs (requirements encoded a slice at a time), let a worker write the report, read it."""
        case_paths = [agents.spool.path("artifact") for _ in contents]
        run_paths = [agents.spool.path("test_run") for _ in runs]
        paths = [agents.spool.path("requirements"), *case_paths, *run_paths, agents.spool.path("coverage")]
        try:
            await agents.spool.write(paths[0], await spool.encode_array(requirements))
            for path, pieces in zip([*case_paths, *run_paths], [*contents, *runs], strict=True):
                await agents.spool.write(path, pieces)
            result = await agents.job("coverage", {
                "requirements": paths[0], "test_cases": case_paths, "test_runs": run_paths, "out": paths[-1],
                "document_version_id": version_id, "generated_at": generated_at})
            return await agents.spool.read(paths[-1]), float(result["coverage_pct"])
        finally:
            await agents.spool.discard(*paths)

    return {"test_generation": test_generation, "coverage": coverage}


def generation_message(tally: dict[str, int], requirements: int, used_model: bool) -> str:
    """The task's closing words: how many cases, and which came from the model and which from the offline generator."""
    head = f"Wrote {tally['count']} test cases for {requirements} requirements"
    if not used_model:
        return f"{head} with the offline generator."
    why = " (for the requirements the model's answer did not cover with valid cases)" if tally["offline"] else ""
    dropped = f"; {tally['rejected']} invalid model cases were dropped" if tally["rejected"] else ""
    return f"{head}: {tally['model']} from the model, {tally['offline']} from the offline generator{why}{dropped}."


def cover_inline(requirements: list[dict[str, Any]], texts: list[str], version_id: str,
                 generated_at: str, run_texts: list[str]) -> tuple[str, float]:
    """The coverage report's JSON text and coverage_pct for small inputs (CPU-bound: run it in a thread)."""
    report = coverage_report(requirements, [json.loads(text) for text in texts], document_version_id=version_id,
                             generated_at=generated_at, runs=[json.loads(text) for text in run_texts])
    return spool.dumps(report), float(report["summary"]["coverage_pct"])
