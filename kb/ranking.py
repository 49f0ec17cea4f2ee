"""Ranking maths: pure functions from evidence to a calibrated score per entry.

Three channels, each in [0, 1]:
  signatures  noisy-or of exact hits, each weighted by how much the signature proves and
              by where in the paste it was found (the root-cause line counts most)
  lexical     BM25 of the paste's error region against each entry, squashed
  dense       best cosine between the error region and any view of the entry, rescaled
They are fused as independent pieces of evidence (noisy-or again), so one strong channel
is enough and several weak ones add up without passing a strong one. The fused value is
the score; `confidence` turns it into words, and `THRESHOLD` is where the bot abstains.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from kb.embedding import Vectors
from kb.reading import Role

THRESHOLD = 0.5  # below: no_match
HIGH = 0.75

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

# Lexical and dense are supporting channels: alone they never prove a match fully.
LEXICAL_SCALE = 6.0  # BM25 score at which the lexical channel gives half its weight
LEXICAL_WEIGHT = 0.45
DENSE_FLOOR = 0.30  # cosine below this is no evidence at all
DENSE_CEIL = 0.80
DENSE_WEIGHT = 0.55
AGAINST_FACTOR = 0.3
PARTIAL_CAP = 0.74  # a paste without its last lines never gets "high"


def noisy_or(values: Iterable[float]) -> float:
    miss = 1.0
    for v in values:
        miss *= 1.0 - min(max(v, 0.0), 1.0)
    return 1.0 - miss


def lexical_channel(bm25: Vectors) -> Vectors:
    squashed: Vectors = (bm25 / (bm25 + LEXICAL_SCALE)).astype(np.float32)
    return squashed * LEXICAL_WEIGHT


def dense_channel(cosine: Vectors) -> Vectors:
    scaled: Vectors = np.clip((cosine - DENSE_FLOOR) / (DENSE_CEIL - DENSE_FLOOR), 0.0, 1.0)
    return (scaled * DENSE_WEIGHT).astype(np.float32)


def fuse(signature: float, lexical: float, dense: float, against: bool, partial: bool) -> float:
    score = noisy_or((signature, lexical, dense))
    if against:
        score *= AGAINST_FACTOR
    if partial:
        score = min(score, PARTIAL_CAP)
    return round(score, 4)


def confidence(score: float) -> str:
    if score >= HIGH:
        return "high"
    if score >= THRESHOLD:
        return "medium"
    return "low"
