"""Score triage against labelled cases, so runbook edits can be regression-tested.

A case is a JSON object with `text` and `expected` (an entry id, or null when the runbook
does not cover it and the right answer is no_match). Metrics:
  top1     positives whose first match is the expected entry, with verdict match
  top3     positives whose expected entry is among the first three candidates
  abstain  negatives answered no_match
  mrr      mean reciprocal rank of the expected entry over positives
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import InputError
from kb.triage import Triage


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    expected: str | None
    split: str = "all"


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
        return self.verdict == "no_match"


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def _positives(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.expected]

    def _negatives(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.case.expected]

    def metrics(self) -> dict[str, float | int]:
        pos, neg = self._positives(), self._negatives()
        return {
            "cases": len(self.outcomes),
            "positives": len(pos),
            "negatives": len(neg),
            "top1": _share(o.top1 for o in pos),
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
        return [o for o in self.outcomes if not (o.top1 if o.case.expected else o.abstained)]

    def split(self, name: str) -> Report:
        return Report([o for o in self.outcomes if o.case.split == name])


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return round(sum(values) / len(values), 4) if values else 0.0


def load_cases(path: Path) -> list[Case]:
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
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("text"), str)
            or not raw["text"].strip()
        ):
            raise InputError(f'{path}:{no}: a case is an object with a non-empty "text" string')
        expected = raw.get("expected")
        if expected is not None and not isinstance(expected, str):
            raise InputError(f'{path}:{no}: "expected" is an entry id or null')
        cases.append(
            Case(
                str(raw.get("id", f"{path.name}:{no}")),
                raw["text"],
                expected,
                str(raw.get("split", "all")),
            )
        )
    return cases


def evaluate(cases: Iterable[Case], triage: Callable[[str], Triage]) -> Report:
    report = Report()
    for case in cases:
        result = triage(case.text)
        ranked = tuple(m.entry_id for m in result.matches)
        top = result.matches[0].score if result.matches else 0.0
        report.outcomes.append(Outcome(case, result.verdict, ranked, top))
    return report
