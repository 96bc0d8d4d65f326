"""Heavy one-shot jobs a worker runs for the server: extraction, test generation and coverage of large inputs.

A job's arguments and result are small JSON; big inputs and outputs are spool files named in the arguments
(agent/spool.py), read and written here, in the worker process, never decoded on the server's loop:

  extract   {content, out, per_line}   requirements of the document text in `content`, to `out` as JSON lines
  testgen   {requirements, chunk, provider, out, start}   test cases of a batch of requirements (offline
            templates per chunk, or the model when `provider` is given, repaired or replaced by the offline
            cases where its answer does not validate: agent/llm_cases.py), appended to the JSON array in `out`
            (comma-separated after the first, which begins at byte `start`); returns {count, model, offline,
            rejected}: the cases written, how many came from the model and from the offline generator, and
            how many of the model's cases were dropped as invalid
  coverage  {requirements, test_cases, document_version_id, generated_at, out}   the coverage report of the
            requirements file against the test_cases artifact contents files, to `out`; returns {coverage_pct}
  document_diff {before, after, contents, from_version_id, to_version_id, out}   two versions' requirements
            (JSON arrays) compared by uid, the tests whose linked requirements changed named from the test_cases
            contents files (when given), the diff's JSON text to `out`; returns {changed}
  report_summary {content, shown}   the summary of a coverage report's JSON text in `content`, with at most
            `shown` uncovered requirement uids and orphan test ids and how many there are of each
  case_edit {op, params, revisions, content, out, rows, embed_limit}   one per-case change to a test_cases
            artifact's content (the server's own logic, chatsvc.services.case_edits.spooled)
  artifact_body {body, out, embed_limit}   a big artifact create body decoded and checked
            (chatsvc.services.artifact_jobs.create_body)
  artifact_update {body, type, old, revisions, out, rows, embed_limit}   a PATCH body checked against the stored
            content, with the revision rows of a test_cases replacement (chatsvc.services.artifact_jobs.update_body)
  import_suite {text, fmt, filename, out, embed_limit}   a test suite file imported as a test_cases content
            (chatsvc.services.artifact_jobs.imported)
  junit     {report, contents, name, shown, out, embed_limit}   a JUnit report recorded as a test_run content
            (chatsvc.services.artifact_jobs.junit)
  export    {content, writer, format, name, out}   a test_cases content (writer `cases`) or a coverage report
            (`report`) written as a file's text to `out`
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from agent import spool

LLM_TESTGEN_PROMPT = (
    "You write software test cases. For each requirement below write one or more test cases: a positive "
    "case, a negative case for every prohibition (shall not / must not), and boundary cases for numeric "
    "limits (just below, at and just above each limit, in the requirement's own unit). Every case must list the "
    "requirement uid it verifies in requirement_uids. Be concrete: use the values, units, roles and objects "
    "the requirement names. Answer only with the function call (or, if you cannot call functions, with JSON "
    '{{"test_cases": [...]}} and nothing else).\n\n'
    "Requirements:\n{requirements}"
)


async def run_job(name: str, args: dict[str, Any], model_for: Callable[[dict[str, Any]], Any]) -> Any:
    """Run one named job; CPU-bound ones on a thread of the worker so its event loop keeps streaming."""
    if name == "extract":
        return await asyncio.to_thread(extract_job, args)
    if name == "testgen":
        rejected = 0
        if args.get("provider"):
            cases, rejected = await _llm_testgen(args, model_for)
        else:
            cases = await asyncio.to_thread(offline_cases, args["requirements"], args["chunk"])
        written = await asyncio.to_thread(append_cases, args["out"], args["start"], cases)
        model = sum(1 for case in cases if case.get("source") == "model")
        return {**written, "model": model, "offline": len(cases) - model, "rejected": rejected}
    if name == "coverage":
        return await asyncio.to_thread(coverage_job, args)
    if name == "document_diff":
        return await asyncio.to_thread(document_diff_job, args)
    if name == "report_summary":
        return await asyncio.to_thread(report_summary_job, args)
    if name == "case_edit":
        from chatsvc.services.case_edits import spooled

        return await asyncio.to_thread(spooled, args)
    if name in ("artifact_body", "artifact_update", "import_suite", "junit"):
        from chatsvc.services import artifact_jobs

        run = {"artifact_body": artifact_jobs.create_body, "artifact_update": artifact_jobs.update_body,
               "import_suite": artifact_jobs.imported, "junit": artifact_jobs.junit}[name]
        return await asyncio.to_thread(run, args)
    if name == "export":
        return await asyncio.to_thread(export_job, args)
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
                    generated_at: str, runs: list[Any] | None = None) -> dict[str, Any]:
    """The coverage report of requirements against the contents of the project's test_cases artifacts (and,
    for "verified", of its test_run artifacts, oldest first)."""
    from agent.coverage import analyse_coverage, merge_test_cases
    from agent.testruns import latest_results

    return analyse_coverage(requirements, merge_test_cases(contents), document_version_id=document_version_id,
                            generated_at=generated_at, results=latest_results(runs or []))


def coverage_job(args: dict[str, Any]) -> dict[str, Any]:
    """Coverage of spooled requirements and test-case artifacts; the report goes to `out`."""
    requirements = json.loads(spool.read_text(args["requirements"]))
    contents = [json.loads(spool.read_text(path)) for path in args["test_cases"]]
    runs = [json.loads(spool.read_text(path)) for path in args.get("test_runs", ())]
    report = coverage_report(requirements, contents, document_version_id=args["document_version_id"],
                             generated_at=args["generated_at"], runs=runs)
    spool.write_text(args["out"], [spool.dumps(report)])
    return {"coverage_pct": report["summary"]["coverage_pct"]}


def export_job(args: dict[str, Any]) -> dict[str, Any]:
    """A spooled artifact content written as a file (CSV, Gherkin, Markdown, HTML) to `out`."""
    from agent.coverage_export import export_report
    from agent.interchange import export_cases

    write = export_report if args["writer"] == "report" else export_cases
    text = write(json.loads(spool.read_text(args["content"])), args["format"], args["name"])
    spool.write_text(args["out"], [text])
    return {"chars": len(text)}


def document_diff_job(args: dict[str, Any]) -> dict[str, Any]:
    """The diff of two spooled requirement lists, with suspect tests when test-case contents are given."""
    from agent.coverage import declared_refs, merge_test_cases
    from agent.identity import diff_requirements, suspect_tests

    before = json.loads(spool.read_text(args["before"])) if args["before"] else []
    after = json.loads(spool.read_text(args["after"]))
    diff = diff_requirements(before, after)
    if diff["changed"] and args["contents"]:
        tests = merge_test_cases(json.loads(spool.read_text(path)) for path in args["contents"])
        diff["suspect_tests"] = suspect_tests(diff["changed"], declared_refs(after, tests))
    spool.write_text(args["out"], [spool.dumps({"from_version_id": args["from_version_id"],
                                                "to_version_id": args["to_version_id"], **diff})])
    return {"changed": len(diff["changed"])}


def report_summary_job(args: dict[str, Any]) -> dict[str, Any]:
    """What the agent's get_coverage_summary tool answers of a spooled coverage report (its rows are left out:
    a big document's report is tens of MB, and the lists are cut to `shown` items)."""
    report = json.loads(spool.read_text(args["content"]))
    report = report if isinstance(report, dict) else {}
    shown = int(args["shown"])
    uncovered, orphans = list(report.get("uncovered") or ()), list(report.get("orphan_tests") or ())
    return {"summary": report.get("summary") or {}, "uncovered": uncovered[:shown], "uncovered_total": len(uncovered),
            "orphan_tests": orphans[:shown], "orphan_tests_total": len(orphans)}


async def _llm_testgen(args: dict[str, Any],
                       model_for: Callable[[dict[str, Any]], Any]) -> tuple[list[dict[str, Any]], int]:
    """Ask the model for test cases of one requirement chunk (function calling); repair its answer, and fill in
    with offline cases the requirements it does not cover validly. Returns the cases and the rejected count."""
    from agent.llm_cases import LlmTestCaseBatch, candidates, merge_with_offline, validate_cases
    from agent.testgen import generate_test_cases

    requirements = args["requirements"]
    lines = "\n".join(f"- {r['uid']} ({r['priority']}): {r['statement']}" for r in requirements)
    prompt = LLM_TESTGEN_PROMPT.format(requirements=lines)
    model = model_for(args["provider"])
    llm = model.with_structured_output(LlmTestCaseBatch, method="function_calling", include_raw=True)
    try:
        answer = await llm.ainvoke(prompt)
    except Exception as exc:  # a server without (forced) function calling refuses the request itself: 400
        if getattr(exc, "status_code", None) != 400:
            raise
        answer = {"parsed": None, "raw": await model.ainvoke(prompt)}  # then ask for the JSON as text
    items = candidates(answer.get("parsed"), answer.get("raw"))
    valid, rejected = validate_cases(items, {r["uid"] for r in requirements})
    return merge_with_offline(valid, requirements, generate_test_cases), rejected
