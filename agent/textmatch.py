"""Lexical matching for requirements and test cases: a tokenizer and a small pure-Python BM25.

Pure functions over plain strings, no dependencies. Used by coverage analysis (inferring which
requirement an unlinked test case verifies) and usable for requirement search.

BM25 uses Lucene's smoothed IDF, log(1 + (N - df + 0.5) / (df + 0.5)), which stays positive on tiny
corpora (rank_bm25's Okapi IDF scores 0 for a term in half of two documents). Query terms count once
each, so a document's score against its own terms (its self-score) is the largest score any query can
reach, and score / self-score is a weighted share of the document's terms found in the query, in [0, 1].
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from functools import lru_cache
from typing import Any

_WORD_RE = re.compile(r"[a-z0-9]+")

STOP_WORDS = frozenset(
    """a an the and or nor but of to in on at by for from with without into onto upon via per as than then
    is are was were be been being am it its this that these those there their they them he she his her we you
    your our us i me my shall must should may will can could would might do does did has have had not no
    any all each every either neither only also such so if when whenever while which who whom whose what
    where how verify ensure given""".split()
)
_KEEP_DOUBLE = set("aeiouylsz")
_EPS = 1e-9


@lru_cache(maxsize=65536)
def stem(token: str) -> str:
    """Strip common English suffixes so that store/stored/storing/stores share one form."""
    if len(token) <= 3 or token.isdigit():
        return token
    if token.endswith("ies") and len(token) > 4:
        token = token[:-3] + "y"
    elif token.endswith("sses"):
        token = token[:-2]
    elif token.endswith("s") and not token.endswith(("ss", "us", "is")):
        token = token[:-1]
    for suffix in ("ing", "ed"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            token = token[: -len(suffix)]
            if len(token) >= 4 and token[-1] == token[-2] and token[-1] not in _KEEP_DOUBLE:
                token = token[:-1]  # logged -> logg -> log, stopping -> stop
            break
    if token.endswith("ly") and len(token) >= 6:
        token = token[:-2]
    if token.endswith("e") and len(token) >= 4:
        token = token[:-1]  # store/stored/storing all end up as "stor"
    return token


def tokenize(text: str) -> list[str]:
    """Lower-case, split into [a-z0-9]+ words, drop stop words and stem what is left."""
    return [stem(w) for w in _WORD_RE.findall(text.lower()) if w not in STOP_WORDS]


TOKENIZER_DESCRIPTION = f"lowercase, [a-z0-9]+, {len(STOP_WORDS)} stop words, light suffix stripping"


class Bm25Index:
    """BM25 over a fixed set of documents (token lists), with an inverted index for fast querying."""

    def __init__(self, docs: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        n = len(docs)
        tfs: list[dict[str, int]] = []
        df: dict[str, int] = {}
        for doc in docs:
            tf: dict[str, int] = {}
            for term in doc:
                tf[term] = tf.get(term, 0) + 1
            tfs.append(tf)
            for term in tf:
                df[term] = df.get(term, 0) + 1
        avgdl = (sum(len(d) for d in docs) / n) if n else 0.0
        self.df = df
        self.idf = {t: math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        # weights[i][t] = the BM25 contribution of term t to document i (a query term counts once).
        self.weights: list[dict[str, float]] = []
        for doc, tf in zip(docs, tfs, strict=True):
            norm = k1 * (1.0 - b + b * (len(doc) / avgdl)) if avgdl else k1
            self.weights.append({t: self.idf[t] * c * (k1 + 1.0) / (c + norm) for t, c in tf.items()})
        self.self_scores = [sum(w.values()) for w in self.weights]
        self.postings: dict[str, list[int]] = {}
        for i, w in enumerate(self.weights):
            for term in w:
                self.postings.setdefault(term, []).append(i)
        self._prefix: dict[float, Any] = {}

    def __len__(self) -> int:
        return len(self.weights)

    def score(self, query: Sequence[str]) -> dict[int, float]:
        """Return the raw BM25 score of every document sharing a term with the query."""
        scores: dict[int, float] = {}
        for term in sorted(set(query)):
            for i in self.postings.get(term, ()):
                scores[i] = scores.get(i, 0.0) + self.weights[i][term]
        return scores

    def similarity(self, query: Collection[str], doc: int) -> float:
        """Return score(query, doc) / self-score(doc), in [0, 1]."""
        weights, total = self.weights[doc], self.self_scores[doc]
        if total <= 0.0:
            return 0.0
        terms = set(query)
        return min(sum(w for t, w in weights.items() if t in terms) / total, 1.0)

    def matches(self, query: Sequence[str], threshold: float) -> list[tuple[int, float]]:
        """Return (doc, similarity) for every document whose normalised score reaches threshold, best first.

        Exact, with prefix filtering: each document is indexed under its rarest terms only, so that its
        commoner terms alone cannot reach the threshold; a document is scored only if the query holds one
        of its indexed terms and the upper bound of its score reaches the threshold.
        """
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        prefix = self._prefix.get(threshold)
        if prefix is None:
            prefix = self._prefix[threshold] = self._prefix_index(threshold)
        index, dropped = prefix
        floor = threshold - _EPS  # summation order differs from the self-score's: allow for rounding
        terms = set(query)
        acc: dict[int, float] = {}
        for term in sorted(terms):  # a fixed summation order keeps floats identical across processes
            for i, w in index.get(term, ()):
                acc[i] = acc.get(i, 0.0) + w
        found = []
        for i, partial in acc.items():
            rest, rest_total = dropped[i]
            total = self.self_scores[i]
            if partial + rest_total < floor * total:
                continue
            if (partial + sum(w for t, w in rest if t in terms)) / total >= floor:
                found.append((i, self.similarity(terms, i)))  # report the canonical sum, to the last bit
        found.sort(key=lambda pair: (-pair[1], pair[0]))
        return found

    def _prefix_index(self, threshold: float) -> tuple[dict[str, list[tuple[int, float]]],
                                                          list[tuple[list[tuple[str, float]], float]]]:
        """Index each document under its rare terms; keep aside the commoner terms worth < threshold."""
        index: dict[str, list[tuple[int, float]]] = {}
        dropped: list[tuple[list[tuple[str, float]], float]] = []
        for i, weights in enumerate(self.weights):
            need = (threshold - 2 * _EPS) * self.self_scores[i]
            # Commonest terms first (highest df; ties by term so the result is deterministic).
            order = sorted(weights, key=lambda t: (-self.df[t], t))
            rest: list[tuple[str, float]] = []
            rest_total = 0.0
            for pos, term in enumerate(order):
                if rest_total + weights[term] >= need:
                    for kept in order[pos:]:
                        index.setdefault(kept, []).append((i, weights[kept]))
                    break
                rest.append((term, weights[term]))
                rest_total += weights[term]
            dropped.append((rest, rest_total))
        return index, dropped
