"""Ranking maths: pure functions from evidence to a calibrated score per entry.

Evidence per entry, from three channels:
  signature     noisy-or of exact hits, each weighted by how much the signature proves and
                by where in the paste it was found (the root-cause line counts most)
  lexical       BM25 of the paste's error region against the entry: absolute (squashed),
                relative to the best entry for this paste, and its margin over the best
                other entry (a clear lead in words says more than a high score all share)
  dense         best cosine between the error region and any view of the entry: absolute
                (rescaled) and its margin over the best other entry
  unnamed_error the paste has an error line, yet nothing the entry names was found in it:
                words alike are then weak proof (HCCL timeout is not HCCL bind)
A logistic model over these features gives the probability that the entry is the answer;
a fact of the paste that speaks against an entry (`@died-after-serving` against false-ready)
then scales it down by AGAINST_FACTOR, a rule rather than a fitted weight, as the corpus
cannot teach what it rarely shows.
Its weights are fitted on the tuning third of the labelled corpus (`bench/calibrate.py`)
and shipped in `data/calibration.json`; below `THRESHOLD` the bot abstains.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb.embedding import Vectors
from kb.errors import KBError
from kb.roles import Role

DEFAULT_CALIBRATION = Path(__file__).parent / "data" / "calibration.json"
FEATURES = (
    "signature",
    "lexical",
    "lexical_rel",
    "dense",
    "dense_margin",
    "unnamed_error",
    "lexical_margin",
)

THRESHOLD = 0.5  # below: no_match
HIGH = 0.8
PARTIAL_CAP = HIGH - 0.01  # a paste without its last lines never gets "high"
AGAINST_FACTOR = 0.3
HEDGE_CAP = THRESHOLD - 0.01  # the paste cannot decide between two readings: "likely" at most

# How much a signature hit counts on a line of each role.
ROLE_WEIGHT = {
    Role.CAUSE: 0.85,
    Role.WEAK: 0.6,
    Role.FRAME: 0.6,
    Role.INPUT: 0.7,
    Role.WRAPPER: 0.35,
    Role.CONTEXT: 0.3,
    Role.BENIGN: 0.0,
}
ROOT_WEIGHT = 1.0
CONTEXT_WHEN_NO_ERRORS = 0.9

LEXICAL_SCALE = 6.0  # BM25 score at which the absolute lexical feature is one half
DENSE_FLOOR = 0.30  # cosine below this is no evidence at all
DENSE_CEIL = 0.80


@dataclass(frozen=True)
class Calibration:
    """The fitted model, and where "likely" starts: both chosen on the tuning split."""

    weights: tuple[float, ...]
    bias: float
    likely_floor: float = 1.0  # the default says "likely" never
    likely_lead: float = 2.0  # how far ahead of the second entry the first must be

    def is_likely(self, first: float, second: float) -> bool:
        """Under the threshold, yet clearly ahead: worth naming as the likely entry."""
        return self.likely_floor <= first < THRESHOLD and first >= self.likely_lead * second

    def probability(self, features: Vectors) -> Vectors:
        logits = features @ np.asarray(self.weights, dtype=np.float32) + self.bias
        probability: Vectors = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        return probability

    @classmethod
    def load(cls, path: Path = DEFAULT_CALIBRATION) -> Calibration:
        try:
            raw = json.loads(path.read_text())
            if tuple(raw["features"]) != FEATURES:
                raise ValueError(f"fitted for features {raw['features']}, not {FEATURES}")
            return cls(
                tuple(float(w) for w in raw["weights"]),
                float(raw["bias"]),
                float(raw.get("likely_floor", 1.0)),
                float(raw.get("likely_lead", 2.0)),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KBError(f"ranking calibration {path} is unusable: {exc}") from exc

    def save(self, path: Path, note: dict[str, object]) -> None:
        body = {
            "features": FEATURES,
            "weights": self.weights,
            "bias": self.bias,
            "likely_floor": self.likely_floor,
            "likely_lead": self.likely_lead,
            **note,
        }
        path.write_text(json.dumps(body, indent=2) + "\n")


def noisy_or(values: Iterable[float]) -> float:
    miss = 1.0
    for v in values:
        miss *= 1.0 - min(max(v, 0.0), 1.0)
    return 1.0 - miss


def features(signature: Vectors, bm25: Vectors, cosine: Vectors, has_cause: bool) -> Vectors:
    """One row per entry, columns as FEATURES."""
    lexical = bm25 / (bm25 + LEXICAL_SCALE)
    lexical_rel = bm25 / bm25.max() if bm25.max() > 0 else np.zeros_like(bm25)
    dense = np.clip((cosine - DENSE_FLOOR) / (DENSE_CEIL - DENSE_FLOOR), 0.0, 1.0)
    if len(cosine) > 1:
        top_two = np.sort(cosine)[-2:]
        others_best = np.where(cosine >= top_two[1], top_two[0], top_two[1])
        margin = np.clip((cosine - others_best) / (DENSE_CEIL - DENSE_FLOOR), -1.0, 1.0)
    else:
        margin = np.zeros_like(cosine)
    unnamed = (signature < 0.05) & has_cause
    if len(bm25) > 1 and bm25.max() > 0:
        top_two = np.sort(bm25)[-2:]
        others = np.where(bm25 >= top_two[1], top_two[0], top_two[1])
        lexical_margin = np.clip((bm25 - others) / bm25.max(), -1.0, 1.0)
    else:
        lexical_margin = np.zeros_like(bm25)
    columns = (signature, lexical, lexical_rel, dense, margin, unnamed, lexical_margin)
    return np.stack([np.asarray(c, dtype=np.float32) for c in columns], axis=1)


def order(probability: Vectors, features: Vectors) -> list[int]:
    """Entries best first; ties (two saturated entries) go to more signature evidence."""
    return sorted(
        range(len(probability)),
        key=lambda i: (-round(float(probability[i]), 4), -float(features[i, 0]), i),
    )


def verdict(calibration: Calibration, ranked_scores: list[float]) -> str:
    """match at the threshold; likely when clearly ahead yet under it; else no_match."""
    if ranked_scores and ranked_scores[0] >= THRESHOLD:
        return "match"
    if len(ranked_scores) > 1 and calibration.is_likely(ranked_scores[0], ranked_scores[1]):
        return "likely"
    return "no_match"


def confidence(score: float) -> str:
    if score >= HIGH:
        return "high"
    if score >= THRESHOLD:
        return "medium"
    return "low"
