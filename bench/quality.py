"""Triage quality per split, with the hints on and off, next to two one-channel baselines.

    python bench/quality.py

Real logs (tests/data/real: `heldout`, `dev`, `tune`) and the self-written corpus
(tests/data/triage_cases) are scored split by split, never pooled. top-1 counts clear
positives only (a BORDERLINE / AMBIGUOUS note marks a judgement call: top-3 only). Prints
a Markdown table for the README; asserts nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from triage import baseline_metrics, bm25_only, dense_only  # noqa: E402

import kb  # noqa: E402
from kb import Case, KBConfig, evaluate, load_cases, resolve  # noqa: E402

CORPORA = {"real": ROOT / "tests/data/real", "self-written": ROOT / "tests/data/triage_cases"}


def _cases(folder: Path, triager: kb.Triager) -> list[Case]:
    found = [c for f in sorted(folder.glob("*.jsonl")) for c in load_cases(f)]
    return resolve(found, triager.index.entries)


def _row(name: str, m: dict[str, float | int]) -> str:
    return (
        f"| {name} | {m['cases']} | {m['top1']:.1%} | {m['top3']:.1%} | "
        f"{m['abstain']:.1%} | {m['mrr']:.3f} |"
    )


def main() -> None:
    with_hints = kb.load(KBConfig())
    without = kb.load(KBConfig(hints=None))
    print("| corpus, split | cases | top-1 | top-3 | abstain | MRR |")
    print("|---|---|---|---|---|---|")
    for corpus, folder in CORPORA.items():
        cases = _cases(folder, with_hints)
        on, off = evaluate(cases, with_hints.triage), evaluate(cases, without.triage)
        for split in on.splits():
            print(_row(f"{corpus} {split}", on.split(split).metrics()))
            print(_row(f"{corpus} {split}, hints off", off.split(split).metrics()))
    real = _cases(CORPORA["real"], with_hints)
    for split in ("heldout", "dev"):
        chosen = [c for c in real if c.split == split]
        for name, rank, threshold in (
            ("dense only, whole entries (cos ≥ 0.5)", dense_only(with_hints), 0.5),
            ("BM25 only (score ≥ 5)", bm25_only(with_hints), 5.0),
        ):
            m = baseline_metrics(chosen, rank, threshold)
            print(
                f"| real {split}, {name} | {len(chosen)} | {m['top1']:.1%} | "
                f"{m['top3']:.1%} | {m['abstain']:.1%} | {m['mrr']:.3f} |"
            )


if __name__ == "__main__":
    main()
