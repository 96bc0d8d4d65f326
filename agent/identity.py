"""Requirement identity across document versions: which requirement of a new version is which of the previous.

Pure functions over plain dicts (`uid`, `statement`, `fingerprint`, in document order), no I/O.

A generated uid (`REQ-` + 8 hex of the statement's words, maybe `_2`...) changes whenever the words change,
which would turn every edit into "one removed, one added" and leave the tests of the old uid dangling. So when
a version is created, `carry_uids` matches its requirements against the previous current version's and gives
a matched requirement with a generated uid the uid it had before (its fingerprint stays the new one: tests
linked with the old fingerprint become stale, their requirement `stale` and the tests `suspect`). The rule,
step by step, each step only over what the earlier ones left unmatched, one-to-one:

1. Same uid: an author id (anything that is not a generated uid) always keeps itself, and a generated uid
   present in both versions (same words) is the same requirement.
2. Same fingerprint (the statement unchanged): generated with generated only, the k-th occurrence of a
   fingerprint in the new version with the k-th unmatched one in the previous version.
3. Position and similarity, generated with generated only: steps 1-2 give anchors (new position -> old
   position). A new requirement's expected old position is the nearest anchor before it plus its distance
   from that anchor, and likewise from the nearest anchor after it; the candidates are the old requirements
   within WINDOW positions of either expected position. Similarity is the Dice coefficient of the two
   statements' term sets (agent.textmatch.tokenize: stop words dropped, light stemming); a pair needs at
   least MIN_SIMILARITY. Pairs are taken greedily by similarity (highest first), then distance from the
   expected position, then new position, then old position.

Author ids are never given to, or taken from, a requirement with a generated uid: an author who drops or adds
an id has removed or added a requirement. The result's uids are unique whenever each version's are (an
unmatched new uid cannot equal a previous uid, or step 1 would have matched it). Work is linear in the number
of requirements (dictionary lookups, at most 2 x (2 x WINDOW + 1) comparisons per changed requirement).

`diff_requirements` compares two versions by uid (added, changed, removed); `suspect_tests` names the tests
each change makes suspect.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from typing import Any

from agent.textmatch import tokenize

GENERATED_UID_RE = re.compile(r"REQ-[0-9A-F]{8}(?:_[0-9]{1,6})?")
WINDOW = 8
MIN_SIMILARITY = 0.5
REQUIREMENT_FIELDS = ("uid", "title", "statement", "modality", "priority", "section", "fingerprint")

Req = Mapping[str, Any]


def is_generated(uid: str) -> bool:
    """Tell whether a uid was generated from the statement's words (not written by the document's author)."""
    return GENERATED_UID_RE.fullmatch(uid) is not None


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Return the Dice coefficient of two term sets (0 when both are empty)."""
    if not a and not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def match_versions(previous: Sequence[Req], current: Sequence[Req]) -> dict[int, int]:
    """Match requirements by the module's rule; return {position in current: position in previous}."""
    old_uids = [str(r.get("uid", "")) for r in previous]
    new_uids = [str(r.get("uid", "")) for r in current]
    pairs = _same_uid(old_uids, new_uids)
    _same_fingerprint(previous, current, old_uids, new_uids, pairs)
    _nearby_similar(previous, current, old_uids, new_uids, pairs)
    return pairs


def carry_uids(previous: Sequence[Req], current: Sequence[Req]) -> list[str]:
    """Return the current requirements' uids, with previous uids carried over to matched generated ones."""
    uids = [str(r.get("uid", "")) for r in current]
    for new, old in match_versions(previous, current).items():
        uids[new] = str(previous[old].get("uid", ""))
    return uids


def _same_uid(old_uids: list[str], new_uids: list[str]) -> dict[int, int]:
    """Step 1: the same uid in both versions."""
    old_at = {uid: i for i, uid in enumerate(old_uids)}
    return {n: old_at[uid] for n, uid in enumerate(new_uids) if uid in old_at}


def _same_fingerprint(previous: Sequence[Req], current: Sequence[Req], old_uids: list[str], new_uids: list[str],
                      pairs: dict[int, int]) -> None:
    """Step 2: an unchanged statement (same fingerprint), generated uids only, in order of occurrence."""
    taken = set(pairs.values())
    waiting: dict[str, list[int]] = {}
    for o, req in enumerate(previous):
        fp = str(req.get("fingerprint") or "")
        if fp and o not in taken and is_generated(old_uids[o]):
            waiting.setdefault(fp, []).append(o)
    for queue in waiting.values():
        queue.reverse()  # pop() from the end gives the earliest
    for n, req in enumerate(current):
        found = waiting.get(str(req.get("fingerprint") or ""))
        if found and n not in pairs and is_generated(new_uids[n]):
            pairs[n] = found.pop()


def _nearby_similar(previous: Sequence[Req], current: Sequence[Req], old_uids: list[str], new_uids: list[str],
                    pairs: dict[int, int]) -> None:
    """Step 3: an edited statement near where it was, by term-set similarity (see the module docstring)."""
    taken = set(pairs.values())
    open_old = [o for o in range(len(previous)) if o not in taken and is_generated(old_uids[o])]
    open_new = [n for n in range(len(current)) if n not in pairs and is_generated(new_uids[n])]
    if not open_old or not open_new:
        return
    anchors = sorted(pairs.items())
    anchor_new = [n for n, _o in anchors]
    terms: dict[tuple[int, int], frozenset[str]] = {}

    def terms_of(side: int, pos: int) -> frozenset[str]:
        key = (side, pos)
        if key not in terms:
            req = (previous if side == 0 else current)[pos]
            terms[key] = frozenset(tokenize(str(req.get("statement") or "")))
        return terms[key]

    is_open = set(open_old)
    candidates: list[tuple[float, int, int, int]] = []
    for n in open_new:
        expected = _expected_positions(n, anchors, anchor_new)
        seen: set[int] = set()
        for centre in expected:
            for o in range(max(0, centre - WINDOW), min(len(previous), centre + WINDOW + 1)):
                if o in seen or o not in is_open:
                    continue
                seen.add(o)
                score = similarity(terms_of(1, n), terms_of(0, o))
                if score >= MIN_SIMILARITY:
                    distance = min(abs(o - c) for c in expected)
                    candidates.append((-score, distance, n, o))
    candidates.sort()
    used_old: set[int] = set()
    for _score, _distance, n, o in candidates:
        if n not in pairs and o not in used_old:
            pairs[n] = o
            used_old.add(o)


def _expected_positions(n: int, anchors: list[tuple[int, int]], anchor_new: list[int]) -> list[int]:
    """Where new requirement n would sit in the previous version, judged from the anchors before and after it."""
    at = bisect.bisect_left(anchor_new, n)
    expected = []
    if at > 0:
        before_new, before_old = anchors[at - 1]
        expected.append(before_old + (n - before_new))
    else:
        expected.append(n)
    if at < len(anchors):
        after_new, after_old = anchors[at]
        expected.append(after_old - (after_new - n))
    return sorted(set(expected))


def diff_requirements(before: Sequence[Req], after: Sequence[Req]) -> dict[str, Any]:
    """Compare two versions' requirements by uid: added, changed (same uid, other fingerprint), removed.

    Lists keep document order (removed: the older version's); `suspect_tests` is left empty for
    `suspect_tests` below to fill.
    """
    old_by_uid = {str(r.get("uid", "")): r for r in before}
    new_uids = {str(r.get("uid", "")) for r in after}
    added: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    unchanged = 0
    for req in after:
        uid = str(req.get("uid", ""))
        old = old_by_uid.get(uid)
        if old is None:
            added.append(_plain(req))
        elif str(old.get("fingerprint") or "") != str(req.get("fingerprint") or ""):
            changed.append({"uid": uid, "before": _plain(old), "after": _plain(req)})
        else:
            unchanged += 1
    removed = [_plain(r) for r in before if str(r.get("uid", "")) not in new_uids]
    return {"added": added, "changed": changed, "removed": removed, "unchanged_count": unchanged,
            "suspect_tests": []}


def suspect_tests(changed: Sequence[Mapping[str, Any]],
                  refs: Sequence[tuple[str, Mapping[str, set[str] | None]]]) -> list[dict[str, Any]]:
    """Name the tests each changed requirement (diff_requirements' `changed`) makes suspect, by tc_id.

    `refs` holds each test's (tc_id, {upper-cased uid it refers to: the fingerprints its links carry, or
    None/empty}) as agent.coverage.declared_refs gives them. A test is suspect for a changed requirement when
    it refers to its uid and none of its links carries the requirement's new fingerprint (it was written, or
    last confirmed, against other wording). Its `req_uids` follow the order of `changed`.
    """
    new_fp = {str(c["uid"]).upper(): (str(c["after"].get("fingerprint") or "").lower(), i)
              for i, c in enumerate(changed)}
    found = []
    for tc_id, declared in sorted(refs, key=lambda item: item[0]):
        hit = sorted(new_fp[key][1] for key, fps in declared.items()
                     if key in new_fp and new_fp[key][0] not in (fps or ()))
        if hit:
            found.append({"tc_id": tc_id, "req_uids": [str(changed[i]["uid"]) for i in hit]})
    return found


def _plain(req: Req) -> dict[str, Any]:
    """A requirement as the API shows it (the fields of RequirementOut)."""
    return {field: req.get(field) for field in REQUIREMENT_FIELDS}
