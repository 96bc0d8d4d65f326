"""How the offline model words its answers from the tools' JSON results (pure string templates)."""

from __future__ import annotations

import json
from typing import Any


def compose_answer(tool: str, content: str) -> str:
    """Turn one tool result into a readable Markdown answer."""
    try:
        data: Any = json.loads(content)
    except ValueError:
        return content
    if isinstance(data, dict) and data.get("error"):
        return f"I couldn't do that: {data['error']}"
    writer = WRITERS.get(tool)
    return writer(data) if writer else f"```json\n{json.dumps(data, indent=2)[:2000]}\n```"


def _doc(data: dict[str, Any]) -> str:
    doc = data.get("document") or {}
    return f"**{doc.get('title', 'the document')}** (version {doc.get('number', '?')})"


def _requirements(data: dict[str, Any]) -> str:
    items = data.get("items", [])
    if not items:
        return f"{_doc(data)} has no requirements I could find."
    lines = [f"- **{r['uid']}** ({r['priority']}): {r['title']}" for r in items]
    more = data.get("total", len(items)) - len(items)
    tail = f"\n\n…and {more} more." if more > 0 else ""
    return f"{_doc(data)} has {data.get('total', len(items))} requirements:\n\n" + "\n".join(lines) + tail


def _search(data: dict[str, Any]) -> str:
    matches = data.get("matches", [])
    if not matches:
        return f"No requirement in {_doc(data)} matches \"{data.get('query', '')}\"."
    lines = [f"- **{m['uid']}**: {m['statement']}" for m in matches]
    return f"Requirements about \"{data.get('query', '')}\" in {_doc(data)}:\n\n" + "\n".join(lines)


def _requirement(data: dict[str, Any]) -> str:
    section = f" — section *{data['section']}*" if data.get("section") else ""
    modal = str(data.get("modality") or "")
    verb = (modal.lower().split() or [""])[0]  # "shall not" (DESIGN §7) or, from older versions, "shall"
    negated = " not" in f" {modal.lower()}" or " never" in f" {modal.lower()}" or \
        " not " in f" {data.get('statement', '').lower()} "
    kind = "a prohibition" if negated and verb in ("shall", "must") \
        else "mandatory" if verb in ("shall", "must") else "recommended" if verb == "should" else "optional"
    return (f"**{data['uid']}**{section}\n\n> {data['statement']}\n\n"
            f"It is {kind} (\"{modal}\", priority {data.get('priority')}). A test for it should set up the "
            f"situation it describes, act, and check the outcome the statement promises.")


def _task(kind: str):  # type: ignore[no-untyped-def]
    def write(data: dict[str, Any]) -> str:
        count = data.get("requirements")
        scope = f" for {count} requirements" if count is not None else ""
        return (f"I started {kind}{scope} (task `{data.get('task_id')}`). Progress shows below; the result "
                f"will appear as a new artifact when it finishes.")

    return write


def _coverage(data: dict[str, Any]) -> str:
    s = data.get("summary") or {}
    uncovered = data.get("uncovered") or []
    parts = [
        f"Coverage of {_doc(data)}: **{s.get('coverage_pct', 0)}%** of {s.get('requirements_total', 0)} "
        f"requirements have explicit tests ({s.get('coverage_pct_with_inferred', 0)}% counting inferred matches).",
        f"{s.get('covered', 0)} covered, {s.get('inferred', 0)} inferred, {s.get('stale', 0)} stale, "
        f"{s.get('uncovered', 0)} uncovered; {s.get('tests_total', 0)} tests, {s.get('orphan_count', 0)} orphans.",
    ]
    if uncovered:
        total = int(data.get("uncovered_total") or len(uncovered))
        more = f" … ({total - 20} more)" if total > 20 else ""
        parts.append("Uncovered: " + ", ".join(f"**{u}**" for u in uncovered[:20]) + more)
    return "\n\n".join(parts)


def _artifacts(data: dict[str, Any]) -> str:
    items = data.get("items", [])
    if not items:
        return "This project has no artifacts yet."
    lines = [f"- {a['name']} (`{a['type']}`, {str(a.get('created_at', ''))[:16].replace('T', ' ')})" for a in items]
    return f"The project has {data.get('total', len(items))} artifacts:\n\n" + "\n".join(lines)


WRITERS = {
    "list_requirements": _requirements,
    "search_requirements": _search,
    "get_requirement": _requirement,
    "generate_test_cases": _task("generating test cases"),
    "run_coverage_analysis": _task("a coverage analysis"),
    "get_coverage_summary": _coverage,
    "list_artifacts": _artifacts,
}
