"""Score triage against labelled cases, so runbook edits can be regression-tested.

A case is one JSON object a line: `id`, `text`, `expected` (an entry id or its exact runbook
title, or null when the runbook does not cover it and the right answer is no_match),
`source` (the thread it was copied from, or the recipe that made it), and optionally `split`
(defaults to the file's name), `note`, `kind`, `family`. A note that says BORDERLINE or
AMBIGUOUS marks a judgement call: it counts for top-3, not for top-1. Metrics:
  top1     clear positives whose first match is the expected entry, with verdict match
  top3     positives whose expected entry is among the first three candidates
  abstain  negatives answered no_match
  mrr      mean reciprocal rank of the expected entry over positives
`likely` is never a match: a case answered `likely` counts for top-3 only.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from kb.errors import InputError
from kb.runbook import Entry
from kb.triage import Triage

_JUDGEMENT_CALLS = ("BORDERLINE", "AMBIGUOUS")
HELD_OUT = "heldout"  # the split that is scored, never read case by case


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    expected: str | None
    split: str = "all"
    source: str = ""
    judged: bool = False  # a judgement call: top-3 only
    where: str = ""  # file:line, for errors that point at the case


class _Row(BaseModel):
    """One line of a cases file, checked: a misspelled key is an error, never a negative."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str | None = None
    text: str
    expected: str | None
    source: str
    split: str | None = None
    note: str = ""
    kind: str | None = None  # the self-written corpus: what the case exercises
    family: str | None = None

    @field_validator("text", "source")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


@dataclass(frozen=True)
class Outcome:
    case: Case
    verdict: str
    ranked: tuple[str, ...]
    top_score: float

    @property
    def rank(self) -> int | None:
        if self.case.expected in self.ranked:
            return self.ranked.index(self.case.expected) + 1
        return None

    @property
    def top1(self) -> bool:
        return self.verdict == "match" and self.rank == 1

    @property
    def abstained(self) -> bool:
        return self.verdict == "no_match"  # "likely" names an entry: not an abstention


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def _positives(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.expected]

    def _negatives(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.case.expected]

    def metrics(self) -> dict[str, float | int]:
        pos, neg = self._positives(), self._negatives()
        clear = [o for o in pos if not o.case.judged]
        return {
            "cases": len(self.outcomes),
            "positives": len(pos),
            "clear": len(clear),
            "negatives": len(neg),
            "top1": _share(o.top1 for o in clear),
            "top3": _share(o.rank is not None and o.rank <= 3 for o in pos),
            "abstain": _share(o.abstained for o in neg),
            "mrr": round(sum(1 / o.rank for o in pos if o.rank) / len(pos), 4) if pos else 0.0,
        }

    def per_entry(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = defaultdict(lambda: {"cases": 0, "top1": 0, "top3": 0})
        for o in self._positives():
            row = table[str(o.case.expected)]
            row["cases"] += 1
            row["top1"] += o.top1
            row["top3"] += o.rank is not None and o.rank <= 3
        neg = table["(no_match)"] if self._negatives() else None
        if neg is not None:
            for o in self._negatives():
                neg["cases"] += 1
                neg["top1"] += o.abstained
                neg["top3"] += o.abstained
        return dict(sorted(table.items()))

    def failures(self) -> list[Outcome]:
        """Misses: a wrong or missing first answer (judgement calls: not in the first three)."""
        missed = []
        for o in self.outcomes:
            if not o.case.expected:
                ok = o.abstained
            elif o.case.judged:
                ok = o.rank is not None and o.rank <= 3
            else:
                ok = o.top1
            if not ok:
                missed.append(o)
        return missed

    def split(self, name: str) -> Report:
        return Report([o for o in self.outcomes if o.case.split == name])

    def splits(self) -> list[str]:
        return sorted({o.case.split for o in self.outcomes})


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return round(sum(values) / len(values), 4) if values else 0.0


def load_cases(path: Path) -> list[Case]:
    """Cases of one JSONL file; any bad line is an InputError naming file and line."""
    cases = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    for no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path}:{no}: not JSON ({exc})") from exc
        if not isinstance(raw, dict):
            raise InputError(f'{path}:{no}: a case is an object with "text", "expected", "source"')
        try:
            row = _Row.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'case'}: {e['msg']}" for e in exc.errors()
            )
            raise InputError(f"{path}:{no}: {problems}") from exc
        judged = any(word in row.note for word in _JUDGEMENT_CALLS)
        cases.append(
            Case(
                row.id or f"{path.name}:{no}",
                row.text,
                row.expected,
                row.split or path.stem,
                row.source,
                judged,
                f"{path}:{no}",
            )
        )
    return cases


def resolve(cases: Sequence[Case], entries: Sequence[Entry]) -> list[Case]:
    """Expected titles become entry ids; an expectation no entry has is an InputError."""
    by_title = {e.title: e.id for e in entries}
    ids = {e.id for e in entries}
    out, unknown = [], []
    for case in cases:
        expected = case.expected
        if expected is not None and expected not in ids:
            if expected not in by_title:
                unknown.append(f"{case.where or case.id}: no runbook entry {expected!r}")
                continue
            expected = by_title[expected]
        out.append(replace(case, expected=expected))
    if unknown:
        shown = unknown[:10] + ([f"... and {len(unknown) - 10} more"] if len(unknown) > 10 else [])
        raise InputError("cases expect entries the runbook does not have:\n" + "\n".join(shown))
    return out


def evaluate(cases: Iterable[Case], triage: Callable[[str], Triage]) -> Report:
    report = Report()
    for case in cases:
        result = triage(case.text)
        ranked = tuple(m.entry_id for m in result.matches)
        top = result.matches[0].score if result.matches else 0.0
        report.outcomes.append(Outcome(case, result.verdict, ranked, top))
    return report
