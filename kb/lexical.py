"""BM25 over runbook entries with a tokenizer that understands log text.

Log identifiers carry meaning in their parts (`aclnnFusedInferAttentionScoreV3`,
`HCCL_OP_EXPANSION_MODE`, `torch._dynamo.exc`), so a token is kept whole and also split
at underscores, dots and camel-case humps. Pure numbers are dropped except 6-digit codes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kb.embedding import Vectors

if TYPE_CHECKING:
    import bm25s  # with scipy, most of a second: imported where an index is made or read

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*[A-Za-z0-9]|\d{6}")
_HUMP = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
        "you",
        "your",
        "can",
        "may",
        "info",
        "debug",
        "warning",
        "warn",
        "line",
        "file",
        "py",
        "self",
        "return",
        "none",
        "true",
        "false",
    }
)


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for word in _WORD.findall(text):
        lower = word.lower()
        if lower not in _STOP and len(lower) > 1:
            tokens.append(lower)
        if "_" in word or any(c.isupper() for c in word[1:]):
            for part in _HUMP.findall(word.replace("_", " ")):
                low = part.lower()
                if len(low) > 2 and low not in _STOP and low != lower and not low.isdigit():
                    tokens.append(low)
    return tokens


def fingerprint() -> str:
    """What shapes a saved BM25 index besides its documents: this module's code (the
    tokenizer, the stop words). A cached index made by other code must not be reused."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:20]


def _quiet_bm25s() -> None:
    # bm25s sets its own logger to DEBUG at import, which floods any handler the app sets up.
    logging.getLogger("bm25s").setLevel(logging.WARNING)


class Lexical:
    """BM25 over one document per entry, scored against every entry at once."""

    def __init__(self, retriever: bm25s.BM25) -> None:
        self._retriever = retriever
        self._vocab: dict[str, int] = retriever.vocab_dict

    @classmethod
    def build(cls, documents: list[str]) -> Lexical:
        import bm25s

        _quiet_bm25s()
        retriever = bm25s.BM25(k1=1.2, b=0.75)
        retriever.index([tokenize(d) or ["-"] for d in documents], show_progress=False)
        return cls(retriever)

    def scores(self, query: str) -> Vectors:
        known = [t for t in tokenize(query) if t in self._vocab]
        if not known:
            return np.zeros(self._retriever.scores["num_docs"], dtype=np.float32)
        return np.asarray(self._retriever.get_scores(known), dtype=np.float32)

    def save(self, folder: Path) -> None:
        self._retriever.save(str(folder))

    @classmethod
    def load(cls, folder: Path) -> Lexical:
        import bm25s

        _quiet_bm25s()
        return cls(bm25s.BM25.load(str(folder)))
