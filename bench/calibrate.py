"""Fit the ranking calibration on the tuning split of the labelled corpus.

    python bench/calibrate.py [--cases tests/data/triage_cases] [--write]

Each (case, entry) pair is one example: 1 when the entry is the case's expected answer,
0 otherwise (every entry of a negative case is 0). A logistic regression over the
features of `kb.ranking.FEATURES` is fitted on the `tune` split only; the `heldout`
split is scored with the fitted weights and never seen by the fit. With --write the
weights go to kb/data/calibration.json, with the figures that justified them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import kb  # noqa: E402
from kb import KBConfig, evaluate, load_cases  # noqa: E402
from kb.ranking import DEFAULT_CALIBRATION, Calibration  # noqa: E402


def _best_bias(
    triager: kb.Triager, tune: list[kb.Case], weights: tuple[float, ...], bias: float
) -> float:
    """Shift the bias so the 0.5 threshold sits where top-1 + abstain is best on tune."""
    best = (-1.0, bias)
    for shift in np.arange(-3.0, 3.01, 0.25):
        triager.calibration = Calibration(weights, bias + float(shift))
        m = evaluate(tune, triager.triage).metrics()
        score = float(m["top1"]) + float(m["abstain"])
        # Prefer the smaller shift among equals: stay near the fitted model.
        if score > best[0] + 1e-9 or (
            abs(score - best[0]) < 1e-9 and abs(shift) < abs(best[1] - bias)
        ):
            best = (score, bias + float(shift))
    return best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=Path, default=ROOT / "tests/data/triage_cases")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength")
    args = parser.parse_args()

    placeholder = Calibration((1.0,) * len(kb.ranking.FEATURES), 0.0)
    triager = kb.load(KBConfig(), calibration=placeholder)
    ids = [e.id for e in triager.index.entries]
    cases = [c for f in sorted(args.cases.glob("*.jsonl")) for c in load_cases(f)]
    tune = [c for c in cases if c.split == "tune"]
    xs, ys = [], []
    for case in tune:
        *_, rows = triager.evidence(case.text)
        xs.append(rows)
        ys.append(np.asarray([1 if e == case.expected else 0 for e in ids]))
    x, y = np.concatenate(xs), np.concatenate(ys)
    # Negatives outnumber positives 16:1 per case; weigh classes so both count.
    model = LogisticRegression(C=args.c, max_iter=1000).fit(x, y)
    weights = tuple(round(float(w), 4) for w in model.coef_[0])
    bias = _best_bias(triager, tune, weights, float(model.intercept_[0]))
    calibration = Calibration(weights, round(bias, 4))
    print(
        "weights:",
        dict(zip(kb.ranking.FEATURES, calibration.weights, strict=True)),
        "bias:",
        calibration.bias,
    )

    triager.calibration = calibration
    figures: dict[str, object] = {}
    for split in ("tune", "heldout"):
        report = evaluate([c for c in cases if c.split == split], triager.triage)
        figures[split] = report.metrics()
        print(split, report.metrics())
        print("  misses:", [o.case.id for o in report.failures()])
    if args.write:
        calibration.save(
            DEFAULT_CALIBRATION, {"fitted_on": "tune split", "figures": figures, "C": args.c}
        )
        print("wrote", DEFAULT_CALIBRATION)


if __name__ == "__main__":
    main()
