"""Hints: what real log lines look like for each runbook entry, beyond its own words.

The runbook is the users' text and ships unchanged; hints sit beside it in a JSON file
keyed by entry id. Hints for ids that no loaded runbook has are ignored, so a team that
replaces the runbook keeps working with the runbook's own signatures only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kb.errors import Problem, RunbookError
from kb.signatures import Kind, Origin, Signature, kind_weight, make

DEFAULT_HINTS = Path(__file__).parent / "data" / "hints.json"


@dataclass(frozen=True)
class Hint:
    signatures: tuple[Signature, ...] = ()
    against: frozenset[str] = frozenset()
    examples: tuple[str, ...] = ()


def _signature(spec: dict[str, object]) -> Signature:
    text = str(spec["text"])
    kind = Kind.FACT if text.startswith("@") else Kind.LITERAL
    sig = make(text, kind, Origin.HINT)
    weight = spec.get("weight")
    if weight is None:
        # A hint names a line of a real failure: as strong as a code unless it says less.
        weight = 1.0 if kind is Kind.LITERAL and len(text) >= 6 else kind_weight(kind, text)
    return Signature(sig.text, sig.fragments, sig.kind, sig.origin, float(str(weight)))


def load_hints(path: Path | None = DEFAULT_HINTS) -> dict[str, Hint]:
    if path is None:
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {
            entry_id: Hint(
                signatures=tuple(_signature(s) for s in spec.get("signatures", [])),
                against=frozenset(spec.get("against", [])),
                examples=tuple(spec.get("examples", [])),
            )
            for entry_id, spec in raw.items()
            if not entry_id.startswith("_")
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RunbookError([Problem(str(path), 1, f"hints file unreadable: {exc}")]) from exc
