"""Fit the ranking calibration on the `tune` split alone, and say how it does on the rest.

    python bench/calibrate.py [--write]

Tune cases are the real logs of tests/data/real/tune.jsonl and the `tune` split of the
self-written corpus. Every choice is made here, on tune only, by cross-validation over
source threads (no thread in two folds), scored on the real tune logs of the held fold:
  C and class weights   of the logistic regression over kb.ranking.FEATURES
  self-written cases    whether the fit also learns from the self-written tune split
  the bias shift        so the 0.5 threshold sits where top-1 + abstain is best
  likely_floor / lead   where "likely" starts (an under-threshold answer clearly ahead)
Each (case, entry) pair is one example: 1 when the entry is the case's expected answer.
The figures on `heldout` and `dev` are printed after the choice and never used to make it.
With --write the result goes to kb/data/calibration.json with the figures.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402
from split_corpus import thread_of  # noqa: E402

import kb  # noqa: E402
from kb import HELD_OUT, Case, KBConfig, evaluate, load_cases, ranking, resolve  # noqa: E402
from kb.ranking import DEFAULT_CALIBRATION, Calibration  # noqa: E402
from kb.reading import Reading  # noqa: E402

REAL = ROOT / "tests/data/real"
WRITTEN = ROOT / "tests/data/triage_cases"
GRID_C = (0.3, 1.0, 3.0, 10.0)
GRID_WEIGHT = (None, "balanced")
SHIFTS = np.arange(-3.0, 3.01, 0.25)
FLOORS = (1.0, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)  # 1.0: never say "likely"
LEADS = (1.5, 2.0, 3.0, 5.0)
FOLDS = 5


@dataclass
class Seen:
    """One tune case read once: its features, reading and the answer it expects."""

    case: Case
    reading: Reading
    rows: np.ndarray
    target: int | None  # the expected entry's position, None for a negative
    real: bool


def _score(triager: kb.Triager, seen: list[Seen], calibration: Calibration) -> dict[str, float]:
    """top-1 (clear), top-3, abstain of `calibration` on already-read cases."""
    triager.calibration = calibration
    top1 = top3 = abstain = clear = pos = neg = 0
    for s in seen:
        probability = triager.scores(s.reading, s.rows)
        order = ranking.order(probability, s.rows)
        verdict = ranking.verdict(calibration, [float(probability[i]) for i in order[:3]])
        if s.target is None:
            neg += 1
            abstain += verdict == "no_match"
            continue
        pos += 1
        top3 += s.target in order[:3]
        if not s.case.judged:
            clear += 1
            top1 += verdict == "match" and order[0] == s.target
    return {
        "top1": top1 / max(clear, 1),
        "top3": top3 / max(pos, 1),
        "abstain": abstain / max(neg, 1),
    }


def _objective(m: dict[str, float]) -> float:
    return m["top1"] + m["abstain"] + 0.5 * m["top3"]


def _fit(seen: list[Seen], c: float, weight: str | None) -> Calibration:
    x = np.concatenate([s.rows for s in seen])
    y = np.concatenate([np.asarray([int(i == s.target) for i in range(len(s.rows))]) for s in seen])
    model = LogisticRegression(C=c, class_weight=weight, max_iter=2000).fit(x, y)
    return Calibration(tuple(float(w) for w in model.coef_[0]), float(model.intercept_[0]))


def _tuned(triager: kb.Triager, seen: list[Seen], base: Calibration) -> tuple[Calibration, float]:
    """The bias shift, then the likely floor and lead, best on `seen`."""
    best, best_score = base, -1.0
    for shift in SHIFTS:
        cand = Calibration(base.weights, base.bias + float(shift))
        score = _objective(_score(triager, seen, cand))
        if score > best_score + 1e-9:
            best, best_score = cand, score
    # "likely" is never a match: it earns its place only where it is right at least twice
    # as often as it is wrong (a likely answer on a failure no entry covers is wrong).
    shifted, best_gain = best, 0
    for floor, lead in itertools.product(FLOORS, LEADS):
        cand = Calibration(shifted.weights, shifted.bias, floor, lead)
        right, wrong = _likely(triager, seen, cand)
        if right - 2 * wrong > best_gain:
            best, best_gain = cand, right - 2 * wrong
    return best, best_score


def _likely(triager: kb.Triager, seen: list[Seen], calibration: Calibration) -> tuple[int, int]:
    """How many "likely" answers name the expected entry, and how many do not."""
    triager.calibration = calibration
    right = wrong = 0
    for s in seen:
        probability = triager.scores(s.reading, s.rows)
        order = ranking.order(probability, s.rows)
        if ranking.verdict(calibration, [float(probability[i]) for i in order[:3]]) == "likely":
            right += s.target == order[0]
            wrong += s.target != order[0]
    return right, wrong


def _cross_validated(
    triager: kb.Triager, seen: list[Seen], c: float, w: str | None, written: bool
) -> float:
    groups = [thread_of(s.case.source) if s.real else s.case.id for s in seen]
    scores = []
    for train, test in GroupKFold(n_splits=FOLDS).split(seen, groups=groups):
        learn = [seen[i] for i in train if written or seen[i].real]
        tuned, _ = _tuned(triager, learn, _fit(learn, c, w))
        held = [seen[i] for i in test if seen[i].real]
        scores.append(_objective(_score(triager, held, tuned)))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    placeholder = Calibration((1.0,) * len(ranking.FEATURES), 0.0)
    triager = kb.load(KBConfig(), calibration=placeholder)
    ids = [e.id for e in triager.index.entries]
    entries = triager.index.entries
    real = resolve([c for f in sorted(REAL.glob("*.jsonl")) for c in load_cases(f)], entries)
    written = resolve([c for f in sorted(WRITTEN.glob("*.jsonl")) for c in load_cases(f)], entries)
    tune = [c for c in real + written if c.split == "tune"]
    seen = []
    for case in tune:
        reading, _, _, rows = triager.evidence(case.text)
        target = ids.index(case.expected) if case.expected else None
        seen.append(Seen(case, reading, rows, target, case in real))
    print(f"tune: {len(tune)} cases ({sum(c in real for c in tune)} real), {FOLDS}-fold by thread")

    results = []
    for c, w, learn_written in itertools.product(GRID_C, GRID_WEIGHT, (True, False)):
        cv = _cross_validated(triager, seen, c, w, learn_written)
        results.append((cv, c, w, learn_written))
        print(
            f"  C={c:<5} class_weight={w!s:<9} self-written={learn_written!s:<5} "
            f"cross-validated objective on real tune {cv:.3f}"
        )
    cv, c, w, learn_written = max(results, key=lambda r: r[0])
    learn = [s for s in seen if learn_written or s.real]
    calibration, _ = _tuned(triager, learn, _fit(learn, c, w))
    calibration = Calibration(
        tuple(round(x, 4) for x in calibration.weights),
        round(calibration.bias, 4),
        calibration.likely_floor,
        calibration.likely_lead,
    )
    print(f"chosen: C={c} class_weight={w} self-written={learn_written} (cv {cv:.3f})")
    print("weights:", dict(zip(ranking.FEATURES, calibration.weights, strict=True)))
    print(
        f"bias {calibration.bias}  likely_floor {calibration.likely_floor}  "
        f"likely_lead {calibration.likely_lead}"
    )

    triager.calibration = calibration
    figures: dict[str, object] = {}
    for name, cases in (
        ("tune (real)", [c for c in real if c.split == "tune"]),
        (HELD_OUT, [c for c in real if c.split == HELD_OUT]),
        ("dev", [c for c in real if c.split == "dev"]),
        ("self-written heldout+blind", [c for c in written if c.split != "tune"]),
    ):
        metrics = evaluate(cases, triager.triage).metrics()
        figures[name] = metrics
        print(f"{name:28} {metrics}")
    if args.write:
        note = {
            "fitted_on": "tune split"
            + (" (real and self-written)" if learn_written else " (real)"),
            "C": c,
            "class_weight": w,
            "figures": figures,
        }
        calibration.save(DEFAULT_CALIBRATION, note)
        print("wrote", DEFAULT_CALIBRATION)


if __name__ == "__main__":
    main()
