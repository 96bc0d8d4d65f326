"""Test cases written by a real model, validated and repaired, with the offline generator for what is left.

Models without reliable structured output are common (local servers, small models), so the model's answer to
one requirement chunk is read in this order:
1. the structured output (the forced function call) when it validates as a whole (a server that refuses
   function calling with HTTP 400 is asked again, plainly, and its text read as in 2: agent/jobs.py);
2. else the function call's arguments, or JSON found in the text: the whole reply, a ```json fenced block, or
   the first balanced `{...}`/`[...]` in prose; `{"test_cases": [...]}`, a bare list, or one case object;
3. each case is then checked on its own, after forgiving repairs (type "positive" -> functional, "edge" ->
   boundary, priority in any case, steps given as strings, a single uid as a string, overlong text clipped);
   cases that still do not validate, or that name no requirement of the chunk, are dropped and counted;
4. every requirement of the chunk that no valid model case covers gets the offline generator's cases.
Each case says where it came from: `source: "model"` or `source: "offline"`. Model cases get stable ids
(`TC-` + a short hash of title and linked fingerprints) and fingerprinted links (origin "generated").
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError

TITLE_MAX, TEXT_MAX, STEPS_MAX = 500, 5000, 200
MAX_ATTEMPTS = 16  # candidate JSON starts tried in prose
_SPECIAL_RE = re.compile(r'[{}\[\]"\\]')
_FENCE_RE = re.compile(r"```[ \t]{0,4}(?:json|JSON)?[ \t]{0,4}\n(.*?)```", re.S)
_TYPES = {"functional": "functional", "positive": "functional", "happy": "functional", "happy path": "functional",
          "negative": "negative", "error": "negative", "invalid": "negative", "boundary": "boundary",
          "edge": "boundary", "edge case": "boundary", "limit": "boundary"}
_PRIORITIES = {"high": "high", "critical": "high", "p1": "high", "medium": "medium", "normal": "medium",
               "p2": "medium", "low": "low", "minor": "low", "p3": "low"}


class LlmStep(BaseModel):
    action: str = Field(min_length=1, max_length=TEXT_MAX)
    expected: str = Field("", max_length=TEXT_MAX)


class LlmTestCase(BaseModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    preconditions: str = Field("", max_length=TEXT_MAX)
    steps: list[LlmStep] = Field(min_length=1, max_length=STEPS_MAX)
    expected_result: str = Field(min_length=1, max_length=TEXT_MAX)
    priority: str = Field("medium", pattern="^(high|medium|low)$")
    type: str = Field("functional", pattern="^(functional|negative|boundary)$")
    requirement_uids: list[str] = Field(min_length=1, max_length=STEPS_MAX)


class LlmTestCaseBatch(BaseModel):
    """Test cases for a batch of requirements."""

    test_cases: list[LlmTestCase]


def candidates(parsed: Any, raw: Any) -> list[Any]:
    """The case objects a model answer holds: validated structured output, else repaired from its raw message."""
    if isinstance(parsed, LlmTestCaseBatch):
        return [case.model_dump() for case in parsed.test_cases]
    for call in list(getattr(raw, "tool_calls", None) or []):
        found = _cases_in(call.get("args"))
        if found:
            return found
    for call in list(getattr(raw, "invalid_tool_calls", None) or []):
        found = _cases_in(find_json(str(call.get("args") or "")))
        if found:
            return found
    content = getattr(raw, "content", raw)
    if isinstance(content, list):  # content blocks
        content = "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return _cases_in(find_json(str(content or "")))


def find_json(text: str) -> Any:
    """The JSON value in a model's text: the whole text, a fenced block, or the first balanced object/array."""
    for chunk in [text, *(m.group(1) for m in _FENCE_RE.finditer(text))]:
        try:
            return json.loads(chunk)
        except ValueError:
            pass
    pairs = _bracket_pairs(text)
    for start in sorted(pairs)[:MAX_ATTEMPTS]:
        try:
            return json.loads(text[start:pairs[start]])
        except ValueError:
            pass
    return None


def _bracket_pairs(text: str) -> dict[int, int]:
    """Each opening bracket's position -> the position after its closing one (JSON strings respected).

    One pass over the brackets and quotes of the text, so hostile input costs linear time.
    """
    stack: list[int] = []
    pairs: dict[int, int] = {}
    in_string, skip = False, -1
    for m in _SPECIAL_RE.finditer(text):
        i = m.start()
        if i == skip:
            continue
        ch = text[i]
        if in_string:
            if ch == "\\":
                skip = i + 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append(i)
        elif ch in "}]" and stack:
            pairs[stack.pop()] = i + 1
    return pairs


def _cases_in(value: Any) -> list[Any]:
    if isinstance(value, dict):
        for key in ("test_cases", "testCases", "cases", "tests"):
            if isinstance(value.get(key), list):
                return list(value[key])
        return [value] if "title" in value else []
    return list(value) if isinstance(value, list) else []


def validate_cases(items: list[Any], uids: set[str]) -> tuple[list[dict[str, Any]], int]:
    """The cases that validate (after repairs) and name a requirement of the chunk; and how many did not."""
    good: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        try:
            case = LlmTestCase.model_validate(_repair(item)).model_dump()
        except ValidationError:
            continue
        case["requirement_uids"] = [u for u in dict.fromkeys(case["requirement_uids"]) if u in uids]
        if case["requirement_uids"]:
            good.append(case)
    return good, len(items) - len(good)


def _repair(item: dict[str, Any]) -> dict[str, Any]:
    """Forgive what small models get wrong in form but not in substance."""
    out = dict(item)
    out["type"] = _TYPES.get(str(out.get("type") or "functional").strip().lower(), str(out.get("type")))
    out["priority"] = _PRIORITIES.get(str(out.get("priority") or "medium").strip().lower(), str(out.get("priority")))
    uids = out.get("requirement_uids", out.get("requirement_uid", out.get("requirements")))
    out["requirement_uids"] = [uids] if isinstance(uids, str) else [str(u) for u in uids or [] if u]
    steps = out.get("steps")
    if isinstance(steps, list):
        out["steps"] = [{"action": s, "expected": ""} if isinstance(s, str) else _step(s) for s in steps]
    for key in ("preconditions", "expected_result"):
        if isinstance(out.get(key), list):
            out[key] = "; ".join(str(v) for v in out[key])
    if not out.get("expected_result") and isinstance(steps, list) and out["steps"]:
        out["expected_result"] = str(out["steps"][-1].get("expected") or "")
    for key, limit in (("title", TITLE_MAX), ("preconditions", TEXT_MAX), ("expected_result", TEXT_MAX)):
        if isinstance(out.get(key), str):
            out[key] = " ".join(out[key].split())[:limit]
    return {k: out[k] for k in LlmTestCase.model_fields if k in out}


def _step(step: Any) -> Any:
    if not isinstance(step, dict):
        return step
    action = step.get("action", step.get("step", step.get("description", "")))
    expected = step.get("expected", step.get("expected_result", step.get("result", "")))
    return {"action": str(action or "")[:TEXT_MAX], "expected": str(expected or "")[:TEXT_MAX]}


def merge_with_offline(model_cases: list[dict[str, Any]], chunk: list[dict[str, Any]],
                       offline: Any) -> list[dict[str, Any]]:
    """Model cases first, in requirement order, with the offline generator's for each requirement they miss."""
    by_req: dict[str, list[dict[str, Any]]] = {}
    for case in normalise_llm_cases(model_cases, chunk):
        by_req.setdefault(case["requirement_uids"][0], []).append(case)
    missing = [req for req in chunk if req["uid"] not in by_req]
    for case in offline(missing) if missing else []:  # one call: twin statements keep distinct ids
        by_req.setdefault(case["requirement_uids"][0], []).append(case)
    return [case for req in chunk for case in by_req.pop(req["uid"], [])]


def normalise_llm_cases(raw: list[dict[str, Any]], chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give model-written cases stable, unique ids and fingerprinted links to the requirements they name."""
    by_uid = {r["uid"]: r for r in chunk}
    out = []
    used: set[str] = set()
    for case in raw:
        uids = [u for u in case.get("requirement_uids", []) if u in by_uid]
        if not uids:
            continue
        seed = f"{case['title']}|{'|'.join(by_uid[u]['fingerprint'] for u in uids)}"
        digest = hashlib.sha256(seed.encode()).hexdigest()[:10].upper()
        n = 1
        while "TC-" + digest in used:  # the same title twice for the same requirement
            n += 1
            digest = hashlib.sha256(f"{seed}|{n}".encode()).hexdigest()[:10].upper()
        used.add("TC-" + digest)
        links = [{"req_uid": u, "fingerprint": by_uid[u]["fingerprint"], "origin": "generated"} for u in uids]
        out.append({**case, "id": "TC-" + digest, "requirement_uids": uids, "links": links, "source": "model"})
    return out
