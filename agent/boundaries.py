"""Numeric limits in a requirement sentence and the boundary values a tester checks them with.

`find_limits(clause)` reads every limit phrasing testers meet in real documents: words ("at most 5", "no more
than", "up to", "maximum 200", "max 100 requests per minute", "at least", "minimum of", "exceed", "above",
"over", "below", "under", "within 24h", "after 5 attempts", "exactly", "5 or more", "200 characters max"),
symbols ("<= 0.1 s", "≤", "<", "≥", ">"), and ranges ("between 8 and 32", "8 to 32 characters", "from 1 to 5",
"(1–5)", "200-500ms"). Each limit is a *region* the phrase names: `max` (<= n), `lt` (< n), `min` (>= n),
`gt` (> n), `eq` (= n), `after` (>= n, a trigger) or `range` (lo..hi, inclusive).

`boundary_values(limit)` gives the values to test, each with whether it lies inside that region: n-1, n,
n+1 for a single limit (one step of the quantity's own precision: 1, 0.1, 0.01 EUR, 1 ms, ...) and lo-1, lo,
hi, hi+1 for a range. Times are tested one unit finer than written: seconds in milliseconds ("under 1 s" ->
999/1000/1001 ms), minutes in seconds, hours in minutes. Whether "inside" is accepted, rejected or triggers
something is the caller's business (a prohibition forbids the region its phrase names).

Every pattern is linear-time on hostile input: bounded repeats, no nested quantifiers over the same text.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

_WORD_NUMS = "zero one two three four five six seven eight nine ten eleven twelve".split()
_HAS_NUMBER_RE = re.compile(r"\d|\b(?:" + "|".join(_WORD_NUMS) + r")\b", re.I)
_DASHED_RE = re.compile(r"\d\s{0,2}(?:-|–|—|\.\.)")
_WORD_VALUES = {word: value for value, word in enumerate(_WORD_NUMS)}
_NUM = (r"(\d{1,3}(?:,\d{3}){1,4}(?!,?\d)|\d{1,3}(?:[ \u202f\u00a0]\d{3}){1,4}(?![.,]?\d)|"
        r"\d{1,15}(?:\.\d{1,6})?(?!\.?\d)|(?:" + "|".join(_WORD_NUMS) + r")\b)")
_CURRENCY = {"€": "EUR", "$": "USD", "£": "GBP"}
_STOP = ("and or per in on of for to by from with within after before the a an when if is are be than long at "
         "once each every while during shall must should may will can not no its their this that which who as "
         "than max maximum minimum total ahead ago later earlier apart old prior beforehand have has had was were "
         "been do does did could would might need needs passed elapsed without since until").split()
_UNIT_WORD = r"(?!(?:" + "|".join(_STOP) + r")\b)[A-Za-z][A-Za-z-]{0,24}"
_RATE = (r"(?:\s*(?:/|\bper\b)\s*[A-Za-z]{1,12}\b(?:\s(?!(?:" + "|".join(_STOP) + r")\b)[A-Za-z]{1,12}\b)?)?")
# A unit: "%", a symbol-less abbreviation glued to the number ("500ms", "24h"), or up to three words.
_UNIT = rf"(\s?%|\s?percent\b|(?:\s?{_UNIT_WORD}){{1}}(?:\s{_UNIT_WORD}){{0,2}}{_RATE})?"
_OPS = {
    "no more than": "max", "not more than": "max", "at most": "max", "up to": "max", "a maximum of": "max",
    "maximum of": "max", "maximum": "max", "max.": "max", "max": "max", "within": "max", "no later than": "max",
    "less than or equal to": "max", "limited to": "max", "a limit of": "max", "capped at": "max",
    "not exceeding": "max", "no longer than": "max", "no greater than": "max", "no larger than": "max",
    "<=": "max", "=<": "max", "≤": "max",
    "no less than": "min", "not less than": "min", "no fewer than": "min", "at least": "min", "a minimum of": "min",
    "minimum of": "min", "minimum": "min", "min.": "min", "min": "min", "greater than or equal to": "min",
    "no earlier than": "min", "no shorter than": "min", ">=": "min", "=>": "min", "≥": "min",
    "more than": "gt", "greater than": "gt", "longer than": "gt", "larger than": "gt", "bigger than": "gt",
    "higher than": "gt", "later than": "gt", "over": "gt", "exceed": "gt", "exceeds": "gt", "exceeding": "gt",
    "in excess of": "gt", "above": "gt", ">": "gt",
    "less than": "lt", "fewer than": "lt", "shorter than": "lt", "smaller than": "lt", "lower than": "lt",
    "under": "lt", "below": "lt", "<": "lt",
    "exactly": "eq", "after": "after",
}
# Words one of which every limit phrasing holds (checked with `in` before the full pattern runs).
_CUES = ("than", "most", "least", "up to", "max", "min", "within", "exceed", "above", "below", "under", "over",
         "after", "between", "from", "exactly", "limit", "capped", "excess", "<", ">", "≤", "≥", " to ", " or ")
_OPS_ALT = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(_OPS, key=len, reverse=True))
_POSTFIX = {"more": "min", "greater": "min", "higher": "min", "above": "min", "longer": "min",
            "fewer": "max", "less": "max", "lower": "max", "below": "max", "shorter": "max"}
_TO_RE = re.compile(r"\sto\s")
_DASH = r"(?:\s{0,2}(?:-|–|—|\.\.)\s{0,2})"
_MONEY = r"([€$£])?"
_LIMIT_RE = re.compile(
    rf"(?:\bbetween|\bfrom)\s+{_MONEY}{_NUM}{_UNIT}\s+(?:and|to)\s+{_MONEY}{_NUM}{_UNIT}"  # 1-6
    rf"|(?<![\w.-]){_MONEY}{_NUM}{_UNIT}(?:\s+to\s+|{_DASH}){_MONEY}{_NUM}{_UNIT}"  # 7-12
    rf"|(?<![\w])({_OPS_ALT})\s{{0,2}}:?\s{{0,2}}{_MONEY}{_NUM}{_UNIT}"  # 13-16
    rf"|(?<![\w.-]){_MONEY}{_NUM}{_UNIT}\s+(?:or\s+({'|'.join(_POSTFIX)})\b|(max(?:imum)?|min(?:imum)?)\b)",  # 17-21
    re.IGNORECASE)
# Time units: (canonical unit, the finer unit it is tested in, how many finer units make one)
_TIME = {"ms": ("ms", "ms", 1), "millisecond": ("ms", "ms", 1), "msec": ("ms", "ms", 1),
         "s": ("s", "ms", 1000), "sec": ("s", "ms", 1000), "second": ("s", "ms", 1000),
         "secs": ("s", "ms", 1000), "min": ("min", "s", 60), "mins": ("min", "s", 60), "minute": ("min", "s", 60),
         "h": ("h", "min", 60), "hr": ("h", "min", 60), "hrs": ("h", "min", 60), "hour": ("h", "min", 60)}
_COARSE_TIME = ("day", "week", "month", "year")
_MONEY_UNITS = frozenset({"EUR", "USD", "GBP", "CHF", "euro", "euros", "dollar", "dollars", "pound", "pounds"})
MEASURED = frozenset({"ms", "s", "min", "h"})  # times a tester measures rather than enters


class Limit(NamedTuple):
    """One limit: its region kind, bounds (hi == lo unless a range), unit as written, and the phrase."""

    kind: str
    lo: Decimal
    hi: Decimal
    unit: str
    phrase: str
    start: int


class Boundary(NamedTuple):
    """One value to test: its text ("999 ms"), where it sits, and whether it lies inside the limit's region."""

    text: str
    where: str  # "just below", "at", "just above"
    inside: bool
    key: str  # stable, for test-case ids


def find_limits(text: str, offset: int = 0, most: int = 8) -> list[Limit]:
    """Find the limits in a clause, in order, without repeating the same one ("1 s (1000 ms)" counts once);
    at most `most` of them."""
    low = text.lower()
    if not (any(word in low for word in _CUES) or _DASHED_RE.search(text)):
        return []  # no phrasing a limit needs: most statements, at a fraction of the full pattern's cost
    first = _HAS_NUMBER_RE.search(text)
    if not first:
        return []
    found: list[Limit] = []
    seen: set[tuple[str, Decimal, Decimal]] = set()
    # No phrase begins more than ~40 characters before its number ("greater than or equal to €").
    for n, m in enumerate(_LIMIT_RE.finditer(text, max(0, first.start() - 40))):
        if n == 8 * most:  # the same few limits repeated: enough read
            break
        limit = _limit(m, text, offset)
        if limit is None:
            continue
        scale, _fine = _scale(limit.unit)
        key = (limit.kind, limit.lo * scale, limit.hi * scale)
        if key not in seen:
            seen.add(key)
            found.append(limit)
            if len(found) >= most:
                break
    return found


def _limit(m: re.Match[str], text: str, offset: int) -> Limit | None:
    g = m.groups()
    phrase = " ".join(m.group(0).split())
    start = m.start() + offset
    if g[1] is not None or g[7] is not None:  # a range
        explicit = g[1] is not None  # "between ... and ...", "from ... to ..."
        cur1, n1, u1, cur2, n2, u2 = g[0:6] if explicit else g[6:12]
        unit = _unit(u2, cur2 or cur1) or _unit(u1, cur1)
        if not explicit and not _plain_range_ok(text, m, u1, u2, cur1 or cur2):
            return None
        lo, hi = _number(n1), _number(n2)
        if lo >= hi:
            return None
        return Limit("range", lo, hi, unit, phrase, start)
    if g[12] is not None:
        kind = _OPS[" ".join(g[12].lower().split())]
        return Limit(kind, _number(g[14]), _number(g[14]), _unit(g[15], g[13]), phrase, start)
    kind = _POSTFIX[g[19].lower()] if g[19] else ("max" if g[20].lower().startswith("max") else "min")
    return Limit(kind, _number(g[17]), _number(g[17]), _unit(g[18], g[16]), phrase, start)


def _plain_range_ok(text: str, m: re.Match[str], u1: str | None, u2: str | None, currency: str | None) -> bool:
    """Accept "8 to 32", or a dashed range with a unit or in parentheses ("(1–5)"), not dates or versions."""
    if _TO_RE.search(m.group(0)):
        return True
    if currency or (u2 and u2.strip()):
        return not (u1 and u1.strip() and u1.strip() != (u2 or "").strip())
    before, after = text[max(0, m.start() - 1):m.start()], text[m.end():m.end() + 1]
    return before == "(" and after == ")"


def _number(text: str) -> Decimal:
    low = text.lower()
    if low in _WORD_VALUES:
        return Decimal(_WORD_VALUES[low])
    return Decimal("".join(ch for ch in text if ch.isdigit() or ch == "."))


def _unit(text: str | None, currency: str | None = None) -> str:
    if currency:
        return _CURRENCY[currency]
    unit = " ".join((text or "").split())
    return "%" if unit in ("%", "percent") else unit


@lru_cache(maxsize=4096)
def _base(unit: str) -> str:
    """The singular, lower-case last word of a unit ("Seconds" -> "second", "24h" unit "h" -> "h")."""
    word = unit.split(" per ")[0].split("/")[0].split()[-1].lower() if unit else ""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _scale(unit: str) -> tuple[Decimal, str]:
    """How many of the finer test unit one written unit is, and that unit ("1 s" is tested as 1000 ms)."""
    time = _TIME.get(_base(unit)) if " per " not in unit and "/" not in unit else None
    if time:
        return Decimal(time[2]), time[1]
    return Decimal(1), unit


@lru_cache(maxsize=4096)
def time_unit(unit: str) -> str | None:
    """The canonical time unit (ms, s, min, h, day, week, ...) of a unit, or None when it is not a time."""
    if " per " in unit or "/" in unit:
        return None
    base = _base(unit)
    return _TIME[base][0] if base in _TIME else base if base in _COARSE_TIME else None


def is_money(unit: str) -> bool:
    """Whether a unit is a currency (tested to the cent)."""
    return unit.split(" ")[0] in _MONEY_UNITS


def boundary_values(limit: Limit) -> list[Boundary]:
    """The values to test a limit with (n-1, n, n+1; lo-1, lo, hi, hi+1), skipping impossible ones."""
    scale, fine = _scale(limit.unit)
    lo, hi = _plain(limit.lo * scale), _plain(limit.hi * scale)
    step = _step(lo, hi, limit.unit)
    points = [(lo - step, "just below", lo), (lo, "at", lo), (lo + step, "just above", lo)]
    if limit.kind == "range":
        points = [(lo - step, "just below", lo), (lo, "at", lo), (hi, "at", hi), (hi + step, "just above", hi)]
    out = []
    for value, where, bound in points:
        if value < 0 or (limit.unit == "%" and value > 100):
            continue
        out.append(Boundary(quantity(value, fine), where, _inside(limit.kind, value, lo, hi),
                            f"{limit.kind}:{bound}:{where}"))
    return out


def _plain(value: Decimal) -> Decimal:
    """Drop the trailing zeros scaling leaves ("0.1 s" is 100 ms, not 100.0 ms)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _step(lo: Decimal, hi: Decimal, unit: str) -> Decimal:
    """One step of the quantity's precision: 1, 0.1 for "0.5", 0.01 for money."""
    exponent = min(int(lo.as_tuple().exponent), int(hi.as_tuple().exponent), 0)
    if is_money(unit):
        exponent = min(exponent, -2)
    return Decimal(1).scaleb(exponent)


def _inside(kind: str, value: Decimal, lo: Decimal, hi: Decimal) -> bool:
    return {"max": value <= lo, "lt": value < lo, "min": value >= lo, "gt": value > lo, "eq": value == lo,
            "after": value >= lo, "range": lo <= value <= hi}[kind]


def nominal(limit: Limit) -> str:
    """A typical value inside the limit's region, for a positive test's data (the middle of a range)."""
    scale, fine = _scale(limit.unit)
    lo, hi = _plain(limit.lo * scale), _plain(limit.hi * scale)
    step = _step(lo, hi, limit.unit)
    value = {"range": ((lo + hi) / 2).quantize(step) if step < 1 else (lo + hi) // 2, "lt": lo - step,
             "gt": lo + step}.get(limit.kind, lo)
    return quantity(max(value, Decimal(0)), fine)


def quantity(value: Decimal, unit: str) -> str:
    """A value with its unit: "1 second", "2 seconds", "99.9%", "10.01 EUR", "23 h 59 min"."""
    if unit == "%":
        return f"{value}%"
    if unit in ("s", "min") and value >= 60 and value % 60:  # 4 min 59 s, 23 h 59 min
        big = "min" if unit == "s" else "h"
        return f"{value // 60} {big} {value % 60} {unit}"
    if unit in ("s", "min") and value >= 60:
        return f"{value // 60} {'min' if unit == 's' else 'h'}"
    if is_money(unit) and unit.isupper() and value != value.to_integral_value():
        value = value.quantize(Decimal("0.01"))
    return f"{value} {_inflect(unit, value)}".strip()


def _inflect(unit: str, value: Decimal) -> str:
    """Singular or plural of a unit's last word before any "per ..." (1 second, 2 seconds; 1 year, 0 years)."""
    head, sep, rate = unit.partition(" per ")
    last = head.split()[-1] if head else ""
    if not (last.isalpha() and last.islower() and len(last) > 2):
        return unit
    if last.endswith("s") and not last.endswith("ss"):
        one, many = (last[:-3] + "y" if last.endswith("ies") else last[:-1]), last
    elif " " in head:  # "days ahead" stays as written: only a one-word unit is known to be the noun
        return unit
    else:
        one, many = last, (last[:-1] + "ies" if last[-1] == "y" and last[-2] not in "aeiou" else last + "s")
    return head[:-len(last)] + (one if value == 1 else many) + sep + rate
