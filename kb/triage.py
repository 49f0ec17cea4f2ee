"""Triage: a paste in, the runbook entries that match its root cause out (or none).

paste -> decode and cap -> normalise -> read (roles, root cause, facts)
      -> signatures + BM25 + dense per entry -> fuse -> match | no_match
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from kb import ranking
from kb.embedding import Vectors
from kb.errors import InputError
from kb.facts import FACT_TEXT
from kb.index import Index
from kb.logtext import decode, looks_binary, normalise
from kb.notes import (
    HEDGES,
    NO_ERROR_NOTE,
    PARTIAL_NOTE,
    REQUEST_NOTE,
    UNDECIDED,
    USAGE_NOTE,
    WRAPPER_NOTE,
)
from kb.prose import gloss
from kb.reading import Reading, read
from kb.roles import FAILED_WORDS, Role
from kb.signatures import Kind, without_choices

_QUERY_LINES = 24
# About 45 tokens of log text: the model's cost grows with every token. 220 characters cost
# a third more time for the same figures on `tune`; 120 lost abstentions there.
_DENSE_CHARS = 160
_EVIDENCE_CHARS = 300
_WORTH_LISTING = 0.02
_CONFIRM_SYMPTOMS = 2  # a lookup lists no entry that shares nothing with the words


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
    verdict: str  # "match" | "likely" | "no_match"
    signature: str | None
    matches: tuple[Match, ...]
    notes: tuple[str, ...] = ()
    partial: bool = False
    confirm: tuple[str, ...] = ()  # "likely": what the log would show if it is that entry
    channels: dict[str, dict[str, float]] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out.pop("channels")
        out["matches"] = [
            {**m, "evidence": list(m["evidence"]), "actions": list(m["actions"])}
            for m in out["matches"]
        ]
        out["notes"] = list(self.notes)
        out["confirm"] = list(self.confirm)
        return out


@dataclass(frozen=True)
class SignatureHits:
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
        elif role is Role.CONTEXT and reading.lines[i].level in ("WARNING", "WARN"):
            weights.append(ranking.ROLE_WEIGHT[Role.WEAK])
        else:
            weights.append(ranking.ROLE_WEIGHT[role])
    return weights


class _Haystack:
    """The paste's lines, lower-cased and joined once, for fast exact search."""

    def __init__(self, reading: Reading) -> None:
        self.lower = [without_choices(t.lower()) for t in reading.texts]
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


def _signature_hits(index: Index, reading: Reading, weights: list[float]) -> list[SignatureHits]:
    hay = _Haystack(reading)
    cache: dict[str, list[int]] = {}
    out = []
    for sigs in index.signatures:
        facts = [sig.weight for sig in sigs if sig.text in reading.facts]
        # Each signature counts once, on its best line; signatures that share a line are one
        # piece of evidence (`507903` and `AclmdlRICaptureEnd ... 507903`), so a line counts
        # with its strongest signature.
        evidence: dict[int, float] = {}
        for sig in sigs:
            if sig.kind is Kind.FACT:
                continue
            first = sig.fragments[0]
            if first not in cache:
                cache[first] = hay.lines_with(first) if first in hay.joined else []
            best, best_line = 0.0, -1
            for line in cache[first]:
                if weights[line] > best and sig.find(hay.lower[line]):
                    best, best_line = weights[line], line
            if best_line >= 0:
                evidence[best_line] = max(evidence.get(best_line, 0.0), sig.weight * best)
        ranked = sorted(evidence, key=lambda i: (-evidence[i], i))[:3]
        lines = tuple(reading.lines[i].text.strip()[:_EVIDENCE_CHARS] for i in sorted(ranked))
        out.append(SignatureHits(ranking.noisy_or([*evidence.values(), *facts]), lines))
    return out


_PLUMBING_FRAME = re.compile(
    r'File "[^"]*(?:torch/nn/modules/module|threading|multiprocessing/process|'
    r'torch/utils/_contextlib|contextlib)\.py"'
)

# Paths, addresses and plain numbers cost tokens and carry no meaning for the model;
# 6-digit Ascend codes stay. Token filtering, not a regex, so a huge line stays linear.
_PUNCTUATION = str.maketrans({c: " " for c in "[](){}'\"|,;=&*<>^~"})


def _meaningful(token: str) -> bool:
    if "/" in token or token.startswith("0x"):
        return False
    digits = token.strip(".:-")
    return not digits.replace(".", "").isdigit() or len(digits) == 6


def _dense_text(lines: Sequence[str]) -> str:
    words: list[str] = []
    for line in lines:
        words.extend(t for t in line[:2000].split() if _meaningful(t))
    return " ".join(" ".join(words).translate(_PUNCTUATION).split())[:_DENSE_CHARS]


def _plumbing(reading: Reading) -> set[int]:
    """Frames of Python's and torch's own call machinery, and their source lines: every
    traceback has them, so they say nothing about this one. importlib's and the HTTP server's
    frames stay: they say a module was being imported, or a request served."""
    out: set[int] = set()
    for i, (text, role) in enumerate(zip(reading.texts, reading.roles, strict=True)):
        if role is Role.FRAME and _PLUMBING_FRAME.search(text[:2000]):
            out.add(i)
            below = i + 1
            if (
                below < len(reading.roles)
                and reading.roles[below] is Role.FRAME
                and not reading.texts[below].lstrip().startswith('File "')
            ):
                out.add(below)
    return out


# Where Python is installed (/usr/local/lib/python3.10/site-packages, /vllm-workspace/...)
# says nothing about the failure, and its words (python, vllm, workspace) pull every
# traceback toward the entries that talk about install paths; the qualified name the frame
# ends with says what was running.
_FRAME_PATH = re.compile(r'^\s*File "[^"]{1,1000}", line \d+, in ')


def _without_path(text: str) -> str:
    return _FRAME_PATH.sub("in ", text, count=1)


def _query(reading: Reading) -> tuple[str, str]:
    """Texts for BM25 and for dense search: the error region, or the whole paste if none."""
    if reading.has_errors:
        # Causes in log order; frames innermost first, since the frames nearest the error
        # (or the end of a traceback cut before its exception) name what was running.
        plumbing = _plumbing(reading)
        order = sorted(
            (
                i
                for i, r in enumerate(reading.roles)
                if (r >= Role.FRAME or r is Role.INPUT) and i not in plumbing
            ),
            key=lambda i: (
                i != reading.cause,
                -reading.roles[i],
                -i if reading.roles[i] is Role.FRAME else i,
            ),
        )
    else:
        # No error line: the lines that say something went wrong, in words, come first.
        order = sorted(
            (i for i, r in enumerate(reading.roles) if r is not Role.BENIGN),
            key=lambda i: (not FAILED_WORDS.search(reading.texts[i][:2000]), i),
        )
    picked = [_without_path(reading.texts[i]) for i in order[:_QUERY_LINES]]
    if reading.signature:
        picked.insert(0, reading.signature)
    # What the reader saw but no line says ("the first request crashed") is evidence too,
    # and so is what the user wrote around a log with no error line in Chinese, in the
    # runbook's English (where the log names its error, the log decides).
    said = [t for t, r in zip(reading.texts, reading.roles, strict=True) if r is not Role.BENIGN]
    told = gloss(said) if reading.cause is None else ""
    extra = [FACT_TEXT[f] for f in sorted(reading.facts) if f in FACT_TEXT] + [told]
    picked[1:1] = [x for x in extra if x]
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


def _refused(reading: Reading) -> bool:
    """The paste shows a refused request or command line, and nothing that crashed."""
    refused = {"@request-error", "@usage-error"} & reading.facts
    return bool(refused) and Role.CAUSE not in reading.roles


class Triager:
    """Answers pastes and lookups from one index."""

    def __init__(
        self,
        index: Index,
        calibration: ranking.Calibration | None = None,
        max_input_bytes: int = 16_000_000,
        top: int = 3,
    ) -> None:
        self.index = index
        self.calibration = calibration or ranking.Calibration.load()
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

    def looks_like_error(self, paste: bytes | str) -> bool:
        """Whether a message says something failed: worth triaging without being asked."""
        try:
            reading, _ = self.read(paste)
        except InputError:
            return False
        return reading.has_errors

    def evidence(
        self, paste: bytes | str, observed: frozenset[str] = frozenset()
    ) -> tuple[Reading, list[str], list[SignatureHits], Vectors]:
        """The paste read, notes, signature hits and the feature row of every entry.

        `observed` are facts seen outside the paste (`@first-request-crash` from a runner
        that watched the server come up and die on its first request): they count as if the
        log had shown them."""
        reading, notes = self.read(paste)
        if observed:
            reading = replace(reading, facts=reading.facts | observed)
        hits = _signature_hits(self.index, reading, _line_weights(reading))
        lexical_text, dense_text = _query(reading)
        rows = ranking.features(
            np.asarray([h.score for h in hits], dtype=np.float32),
            self.index.lexical.scores(lexical_text),
            _dense(self.index, dense_text),
            has_cause=Role.CAUSE in reading.roles,
        )
        return reading, notes, hits, rows

    def scores(self, reading: Reading, rows: Vectors) -> Vectors:
        """Each entry's calibrated probability, then the rules about what the paste shows."""
        probability = self.calibration.probability(rows)
        against = np.asarray([bool(a & reading.facts) for a in self.index.against])
        probability = np.where(against, probability * ranking.AGAINST_FACTOR, probability)
        if reading.partial:
            probability = np.minimum(probability, ranking.PARTIAL_CAP)
        if reading.facts & HEDGES.keys():
            probability = np.minimum(probability, ranking.HEDGE_CAP)
        if reading.names_no_error:  # a traceback cut before its exception, wrappers alone
            unnamed = rows[:, 0] <= 0  # and no signature or fact names the entry
            probability = np.where(unnamed, np.minimum(probability, ranking.HEDGE_CAP), probability)
        undecided = self._undecided(reading, rows)
        probability = np.where(undecided, np.minimum(probability, ranking.HEDGE_CAP), probability)
        if _refused(reading):  # a refused request is the user's input: nothing to fix
            probability = probability * ranking.AGAINST_FACTOR
        return probability

    def _undecided(self, reading: Reading, rows: Vectors) -> np.ndarray:
        """Per entry: whether its only signature evidence is a fact that cannot decide."""
        facts = reading.facts & UNDECIDED.keys()
        if not facts:
            return np.zeros(len(rows), dtype=bool)
        from_facts = np.asarray(
            [
                ranking.noisy_or(sig.weight for sig in sigs if sig.text in facts)
                for sigs in self.index.signatures
            ],
            dtype=np.float32,
        )
        return (from_facts > 0) & (rows[:, 0] <= from_facts + 1e-6)

    def triage(
        self, paste: bytes | str, top: int | None = None, observed: frozenset[str] = frozenset()
    ) -> Triage:
        reading, notes, hits, rows = self.evidence(paste, observed)
        probability = self.scores(reading, rows)
        order = ranking.order(probability, rows)
        matches = tuple(
            self._match(i, round(float(probability[i]), 4), hits[i].evidence)
            for i in order[: top or self.top]
        )
        verdict = ranking.verdict(self.calibration, [m.score for m in matches])
        confirm: tuple[str, ...] = ()
        if verdict == "likely":
            confirm = self.index.entries[order[0]].symptoms[:_CONFIRM_SYMPTOMS]
        if reading.partial:
            notes.append(PARTIAL_NOTE)
        if reading.only_wrappers:
            notes.append(WRAPPER_NOTE)
        elif reading.names_no_error and not reading.partial:
            notes.append(NO_ERROR_NOTE)
        notes.extend(HEDGES[f] for f in sorted(reading.facts & HEDGES.keys()))
        if self._undecided(reading, rows)[order[0]]:
            notes.extend(UNDECIDED[f] for f in sorted(reading.facts & UNDECIDED.keys()))
        if _refused(reading):
            notes.append(USAGE_NOTE if "@usage-error" in reading.facts else REQUEST_NOTE)
        channels = {
            e.id: dict(zip(ranking.FEATURES, map(float, rows[i]), strict=True))
            for i, e in enumerate(self.index.entries)
        }
        return Triage(
            verdict,
            reading.signature,
            matches,
            tuple(notes),
            reading.partial,
            confirm=confirm,
            channels=channels,
        )

    def _match(self, i: int, score: float, evidence: tuple[str, ...]) -> Match:
        entry = self.index.entries[i]
        return Match(
            entry.id, entry.title, score, ranking.confidence(score), evidence, entry.actions
        )

    def search(self, words: str, top: int = 5) -> list[Match]:
        """On-call lookup by words: entries ranked by BM25 and dense, no abstaining."""
        if not words.strip():
            return []
        rows = ranking.features(
            np.zeros(len(self.index.entries), dtype=np.float32),
            self.index.lexical.scores(words),
            _dense(self.index, words),
            has_cause=False,
        )
        # A lookup has no error to prove: rank by the words alone (lexical and dense).
        strength = rows[:, 1] * rows[:, 2] + rows[:, 3]
        scores = [(float(strength[i]) / 2, i) for i in range(len(self.index.entries))]
        scores.sort(key=lambda s: (-s[0], s[1]))
        found = [(s, i) for s, i in scores[:top] if s >= _WORTH_LISTING]
        return [self._match(i, round(s, 4), ()) for s, i in found]
