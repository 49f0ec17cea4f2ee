"""Triage: a paste in, the runbook entries that match its root cause out (or none).

paste -> decode and cap -> normalise -> read (roles, root cause, facts)
      -> signatures + BM25 + dense per entry -> fuse -> match | no_match
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from kb import ranking
from kb.embedding import Vectors
from kb.errors import InputError
from kb.index import Index
from kb.logtext import decode, looks_binary, normalise
from kb.reading import Reading, Role, read

_QUERY_LINES = 24
_DENSE_CHARS = 220  # about 64 tokens of log text: the model's cost grows with every token
_EVIDENCE_CHARS = 300
_CANDIDATES = 8

PARTIAL_NOTE = (
    "The paste stops inside a traceback: its last lines, with the exception, are missing. "
    "This is the likely entry; paste the end of the log to confirm."
)


@dataclass(frozen=True)
class Match:
    entry_id: str
    title: str
    score: float
    confidence: str
    evidence: tuple[str, ...]
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Triage:
    verdict: str  # "match" | "no_match"
    signature: str | None
    matches: tuple[Match, ...]
    notes: tuple[str, ...] = ()
    partial: bool = False
    channels: dict[str, dict[str, float]] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out.pop("channels")
        out["matches"] = [
            {**m, "evidence": list(m["evidence"]), "actions": list(m["actions"])}
            for m in out["matches"]
        ]
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class _Hits:
    score: float
    evidence: tuple[str, ...]


def _line_weights(reading: Reading) -> list[float]:
    context = ranking.CONTEXT_WHEN_NO_ERRORS if not reading.has_errors else None
    weights = []
    for i, role in enumerate(reading.roles):
        if i == reading.cause:
            weights.append(ranking.ROOT_WEIGHT)
        elif role is Role.CONTEXT and context is not None:
            weights.append(context)
        else:
            weights.append(ranking.ROLE_WEIGHT[role])
    return weights


class _Haystack:
    """The paste's lines, lower-cased and joined once, for fast exact search."""

    def __init__(self, reading: Reading) -> None:
        self.lower = [t.lower() for t in reading.texts]
        self.joined = "\n".join(self.lower)
        self.starts = list(np.cumsum([0] + [len(t) + 1 for t in self.lower[:-1]]))

    def lines_with(self, fragment: str) -> list[int]:
        found: list[int] = []
        pos = self.joined.find(fragment)
        while pos >= 0:
            line = bisect.bisect_right(self.starts, pos) - 1
            found.append(line)
            pos = self.joined.find(
                fragment,
                int(self.starts[line + 1]) if line + 1 < len(self.starts) else len(self.joined),
            )
        return found


def _signature_hits(index: Index, reading: Reading, weights: list[float]) -> list[_Hits]:
    hay = _Haystack(reading)
    cache: dict[str, list[int]] = {}
    out = []
    for sigs in index.signatures:
        strengths: dict[str, float] = {}
        evidence: dict[int, float] = {}
        for sig in sigs:
            if sig.fragments[0].startswith("@"):
                if sig.text in reading.facts:
                    strengths[sig.text] = sig.weight
                continue
            first = sig.fragments[0]
            if first not in cache:
                cache[first] = hay.lines_with(first) if first in hay.joined else []
            best, best_line = 0.0, -1
            for line in cache[first]:
                if weights[line] > best and sig.find(hay.lower[line]):
                    best, best_line = weights[line], line
            if best_line >= 0:
                key = " ".join(sig.fragments)
                strengths[key] = max(strengths.get(key, 0.0), sig.weight * best)
                evidence[best_line] = max(evidence.get(best_line, 0.0), sig.weight * best)
        ranked = sorted(evidence, key=lambda i: (-evidence[i], i))[:3]
        lines = tuple(reading.lines[i].text.strip()[:_EVIDENCE_CHARS] for i in sorted(ranked))
        out.append(_Hits(ranking.noisy_or(strengths.values()), lines))
    return out


# Paths, addresses, pids and timestamps cost tokens and carry no meaning for the model.
_DENSE_NOISE = re.compile(
    r"\S*/\S*|\b0x[0-9a-f]+\b|\((?:PID|pid)[^)]*\)|\[[^\]]*\d{2}:\d{2}[^\]]*\]|"
    r"\b\d+(?:\.\d+)?\b(?<!\b\d{6})|[\[\](){}'\"|,;=&*<>^~-]+"
)


def _dense_text(lines: Sequence[str]) -> str:
    text = " ".join(_DENSE_NOISE.sub(" ", line) for line in lines)
    return " ".join(text.split())[:_DENSE_CHARS]


def _query(reading: Reading) -> tuple[str, str]:
    """Texts for BM25 and for dense search: the error region, or the whole paste if none."""
    if reading.has_errors:
        order = sorted(
            (i for i, r in enumerate(reading.roles) if r >= Role.WEAK or r is Role.INPUT),
            key=lambda i: (i != reading.cause, -reading.roles[i], i),
        )
    else:
        order = [i for i, r in enumerate(reading.roles) if r is not Role.BENIGN]
    picked = [reading.texts[i] for i in order[:_QUERY_LINES]]
    if reading.signature:
        picked.insert(0, reading.signature)
    return "\n".join(picked), _dense_text(picked[:8])


def _dense(index: Index, text: str) -> Vectors:
    scores = np.full(len(index.entries), -1.0, dtype=np.float32)
    if not text.strip():
        return scores
    vector = index.embedder.embed([text])
    sims, rows = index.dense.search(vector, min(index.dense.ntotal, 64))
    for sim, row in zip(sims[0], rows[0], strict=True):
        if row >= 0:
            entry = int(index.view_entry[row])
            scores[entry] = max(scores[entry], float(sim))
    return scores


class Triager:
    """Answers pastes and lookups from one index."""

    def __init__(self, index: Index, max_input_bytes: int = 16_000_000, top: int = 3) -> None:
        self.index = index
        self.max_input_bytes = max_input_bytes
        self.top = top

    def read(self, paste: bytes | str) -> tuple[Reading, list[str]]:
        text, notes = decode(paste, self.max_input_bytes)
        if not text.strip():
            raise InputError("nothing to triage: the input is empty")
        if looks_binary(text):
            raise InputError(
                "the input looks binary, not a log (a compressed or core file?); "
                "paste the text of the log instead"
            )
        lines = normalise(text).lines
        if not lines:
            raise InputError("nothing to triage: the input has no text lines")
        return read(lines), notes

    def triage(self, paste: bytes | str, top: int | None = None) -> Triage:
        reading, notes = self.read(paste)
        weights = _line_weights(reading)
        hits = _signature_hits(self.index, reading, weights)
        lexical_text, dense_text = _query(reading)
        lexical = ranking.lexical_channel(self.index.lexical.scores(lexical_text))
        dense = ranking.dense_channel(_dense(self.index, dense_text))
        scored = []
        for i in range(len(self.index.entries)):
            against = bool(self.index.against[i] & reading.facts)
            score = ranking.fuse(
                hits[i].score, float(lexical[i]), float(dense[i]), against, reading.partial
            )
            scored.append((score, i))
        scored.sort(key=lambda s: (-s[0], s[1]))
        matches = tuple(self._match(i, score, hits[i]) for score, i in scored[: top or self.top])
        verdict = "match" if matches and matches[0].score >= ranking.THRESHOLD else "no_match"
        if reading.partial:
            notes.append(PARTIAL_NOTE)
        channels = {
            e.id: {
                "signature": hits[i].score,
                "lexical": float(lexical[i]),
                "dense": float(dense[i]),
            }
            for i, e in enumerate(self.index.entries)
        }
        return Triage(verdict, reading.signature, matches, tuple(notes), reading.partial, channels)

    def _match(self, i: int, score: float, hits: _Hits) -> Match:
        entry = self.index.entries[i]
        return Match(
            entry.id, entry.title, score, ranking.confidence(score), hits.evidence, entry.actions
        )

    def search(self, words: str, top: int = 5) -> list[Match]:
        """On-call lookup by words: entries ranked by BM25 and dense, no abstaining."""
        if not words.strip():
            return []
        lexical = ranking.lexical_channel(self.index.lexical.scores(words))
        dense = ranking.dense_channel(_dense(self.index, words))
        scores = [
            (ranking.noisy_or((float(lexical[i]), float(dense[i]))), i)
            for i in range(len(self.index.entries))
        ]
        scores.sort(key=lambda s: (-s[0], s[1]))
        return [self._match(i, round(s, 4), _Hits(s, ())) for s, i in scores[:top] if s > 0]

    # Baselines for the benchmark: one channel each, nothing else.
    def dense_only(self, paste: str) -> list[tuple[str, float]]:
        vector = self.index.embedder.embed([paste[: _DENSE_CHARS * 4]])
        sims, rows = self.index.whole.search(vector, len(self.index.entries))
        return [
            (self.index.entries[int(r)].id, float(s)) for s, r in zip(sims[0], rows[0], strict=True)
        ]

    def bm25_only(self, paste: str) -> list[tuple[str, float]]:
        scores = self.index.lexical.scores(paste)
        order = np.argsort(-scores, kind="stable")
        return [(self.index.entries[int(i)].id, float(scores[i])) for i in order]


def entries_table(index: Index) -> Sequence[tuple[str, str]]:
    return [(e.id, e.title) for e in index.entries]
