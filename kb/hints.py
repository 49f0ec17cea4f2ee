"""Hints: what real log lines look like for each runbook entry, beyond its own words.

The runbook is the users' text and ships unchanged; hints sit beside it in a JSON file
keyed by entry id. Hints for ids that no loaded runbook has are ignored, so a team that
replaces the runbook keeps working with the runbook's own signatures only.

Every hint line says where it comes from (`source`): the vLLM / vllm-ascend / torch_npu /
CANN file that prints it, a documented error code, a public thread, the runbook symptom it
restates, or the reader fact it names. A reviewer tells a family signature from a string
copied out of one case by that field, so a line without one is refused, not guessed at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import Problem, RunbookError
from kb.signatures import Kind, Origin, Signature, kind_weight, make

DEFAULT_HINTS = Path(__file__).parent / "data" / "hints.json"

_NEEDS_SOURCE = (
    'has no "source": say where the line comes from (a vLLM / vllm-ascend / torch_npu / '
    "CANN file, an error-code doc, a public thread, the runbook, or 'unknown')"
)


@dataclass(frozen=True)
class Provenance:
    part: str  # "signature", "against" or "example"
    text: str
    source: str


@dataclass(frozen=True)
class Hint:
    signatures: tuple[Signature, ...] = ()
    against: frozenset[str] = frozenset()
    examples: tuple[str, ...] = ()
    # For reviewers only: ranking never reads it, and it stays out of repr and equality so
    # that the index (keyed by repr) is not rebuilt when only a source is corrected.
    provenance: tuple[Provenance, ...] = field(default=(), compare=False, repr=False)


def _signature(spec: dict[str, object]) -> Signature:
    text = str(spec["text"])
    kind = Kind.FACT if text.startswith("@") else Kind.LITERAL
    sig = make(text, kind, Origin.HINT)
    weight = spec.get("weight")
    if weight is None:
        # A hint names a line of a real failure: as strong as a code unless it says less.
        weight = 1.0 if kind is Kind.LITERAL and len(text) >= 6 else kind_weight(kind, text)
    return Signature(sig.text, sig.fragments, sig.kind, sig.origin, float(str(weight)))


class _Reader:
    """Reads one hints file, collecting every line that lacks a source before refusing it."""

    def __init__(self, path: Path, raw: str) -> None:
        self.path = path
        self.raw = raw
        self.problems: list[Problem] = []

    def line_of(self, text: str, entry_id: str) -> int:
        """The line of `text` in the entry's block (the same text may sit in other entries)."""
        start = max(self.raw.find(json.dumps(entry_id)), 0)
        for quoted in (json.dumps(text), json.dumps(text, ensure_ascii=False)):
            at = self.raw.find(quoted, start)
            if at >= 0:
                return self.raw.count("\n", 0, at) + 1
        return self.raw.count("\n", 0, start) + 1

    def items(self, entry_id: str, spec: dict[str, object], key: str) -> list[dict[str, object]]:
        """The objects under `key`, each with a text and a source; problems for the rest."""
        part = {"signatures": "signature", "examples": "example", "against": "against"}[key]
        listed = spec.get(key, [])
        if not isinstance(listed, list):
            self.problems.append(
                Problem(str(self.path), 1, f"hint for {entry_id!r}: {key!r} must be a list")
            )
            return []
        good: list[dict[str, object]] = []
        for item in listed:
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                self.problems.append(
                    Problem(
                        str(self.path),
                        self.line_of(str(item), entry_id),
                        f"hint for {entry_id!r}: {part} {item!r} must be an object "
                        '{"text": ..., "source": ...}',
                    )
                )
                continue
            source = item.get("source")
            if not isinstance(source, str) or not source.strip():
                text = item["text"]
                self.problems.append(
                    Problem(
                        str(self.path),
                        self.line_of(text, entry_id),
                        f"hint for {entry_id!r}: {part} {text!r} {_NEEDS_SOURCE}",
                    )
                )
                continue
            good.append(item)
        return good

    def hint(self, entry_id: str, spec: dict[str, object]) -> Hint:
        sigs = self.items(entry_id, spec, "signatures")
        against = self.items(entry_id, spec, "against")
        examples = self.items(entry_id, spec, "examples")
        provenance = tuple(
            Provenance(part, str(item["text"]), str(item["source"]))
            for part, items in (("signature", sigs), ("against", against), ("example", examples))
            for item in items
        )
        return Hint(
            signatures=tuple(_signature(s) for s in sigs),
            against=frozenset(str(a["text"]) for a in against),
            examples=tuple(str(x["text"]) for x in examples),
            provenance=provenance,
        )


def load_hints(path: Path | None = DEFAULT_HINTS) -> dict[str, Hint]:
    if path is None:
        return {}
    try:
        raw = path.read_text(encoding="utf-8")
        reader = _Reader(path, raw)
        hints = {
            entry_id: reader.hint(entry_id, spec)
            for entry_id, spec in json.loads(raw).items()
            if not entry_id.startswith("_")
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RunbookError([Problem(str(path), 1, f"hints file unreadable: {exc}")]) from exc
    if reader.problems:
        raise RunbookError(reader.problems)
    return hints
