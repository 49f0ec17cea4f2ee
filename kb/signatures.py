"""Signatures: the exact strings that tie a log line to a runbook entry.

A signature is derived from the runbook text (inline code, error codes, exception names,
flags, env vars) or given as a hint. `A ... B` in the runbook means "A, then later on the
same line B", so a signature is a sequence of fragments matched in order on one line.
Weights say how much a hit proves: an Ascend error code proves a lot, `ValueError` little.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass


class Kind(enum.StrEnum):
    CODE = "code"  # 507903, EJ0003, ERR02200
    EXCEPTION = "exception"  # torch._dynamo.exc.TorchRuntimeError
    LITERAL = "literal"  # inline code from the runbook or a hint
    FLAG = "flag"  # --enforce-eager
    ENV = "env"  # HCCL_OP_EXPANSION_MODE
    FACT = "fact"  # @first-request-crash: a fact the log reader derives, not a string


class Origin(enum.StrEnum):
    TITLE = "title"
    SYMPTOM = "symptom"
    HINT = "hint"
    LEARNED = "learned"  # a user said this root-cause line belongs to the entry


@dataclass(frozen=True)
class Signature:
    text: str
    fragments: tuple[str, ...]  # lower-case, matched in order on one line
    kind: Kind
    origin: Origin
    weight: float

    def find(self, line_lower: str) -> bool:
        pos = 0
        for fragment in self.fragments:
            pos = _find_word_start(line_lower, fragment, pos)
            if pos < 0:
                return False
            pos += len(fragment)
        return True


def _find_word_start(line: str, fragment: str, pos: int) -> int:
    """Where `fragment` starts a word of `line`: `k_norm` is not inside `fuse_qk_norm`, yet
    `float8_e4m3fn` is inside `DT_FLOAT8_E4M3FN` (an underscore joins words)."""
    bounded = fragment[:1].isalnum()
    while (at := line.find(fragment, pos)) >= 0:
        if not bounded or at == 0 or not line[at - 1].isalnum():
            return at
        pos = at + 1
    return -1


# A run of three or more quoted items is a list of allowed values ("Must be one of ['awq',
# 'fp8', ...]", argparse's "choose from 'a', 'b', 'c'"): it names every option, so none of
# them is what failed. Each item is bounded and the separator unambiguous: linear.
_QUOTED = r"""(?:'[^'\n]{1,40}'|"[^"\n]{1,40}")"""
_CHOICES = re.compile(rf"{_QUOTED}(?:\s*,\s*{_QUOTED}){{2,}}")


def without_choices(line: str) -> str:
    """The line with its lists of allowed values blanked, for signature search."""
    if "', '" not in line and '", "' not in line and "','" not in line:
        return line
    return _CHOICES.sub(lambda m: " " * len(m.group()), line)


_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_ACL_CODE = re.compile(r"(?<![\w.])(\d{6})(?![\w.])")
_CANN_CODE = re.compile(r"\b(E[A-Z][0-9A-Z]\d{3}|ERR\d{5})\b")
_EXCEPTION = re.compile(r"\b((?:[a-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception))\b")
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]+)")
_ENV = re.compile(r"\b([A-Z][A-Z0-9]+_[A-Z0-9_]{2,})\b")
_IDENTIFIER = re.compile(r"[A-Za-z]\w*(?:[A-Z_0-9]\w*)+")
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*")

# Builtin exceptions say what kind of failure, not which one.
GENERIC_EXCEPTIONS = frozenset(
    {
        "AssertionError", "AttributeError", "Exception", "ImportError", "IndexError", "KeyError",
        "ModuleNotFoundError", "NotImplementedError", "OSError", "RuntimeError", "TypeError",
        "ValueError",
    }
)  # fmt: skip


def fragments_of(text: str) -> tuple[str, ...]:
    return tuple(f for f in (p.strip().lower() for p in _ELLIPSIS.split(text)) if f)


def kind_weight(kind: Kind, text: str) -> float:
    """How much one hit of a signature of this kind proves, before its origin is counted."""
    if kind is Kind.CODE:
        return 1.0
    if kind is Kind.FACT:
        return 0.9  # a shape of the log; a named error on the root-cause line says more
    if kind is Kind.EXCEPTION:
        # A class names the family of a failure (`TorchRuntimeError`), not which one.
        return 0.15 if text.rsplit(".", 1)[-1] in GENERIC_EXCEPTIONS else 0.5
    if kind is Kind.FLAG:
        return 0.3
    if kind is Kind.ENV:
        return 0.4
    # Literals: long or multi-part strings and code identifiers are specific; words are not.
    size = len(text.replace("...", ""))
    if size >= 24 or "..." in text:
        return 1.0
    if _IDENTIFIER.fullmatch(text) and len(text) >= 6:
        return 0.8
    if text.isalpha():
        return 0.2  # one plain word: `transformers`, `architectures`
    return 0.7 if size >= 12 else 0.35


def make(text: str, kind: Kind, origin: Origin) -> Signature:
    weight = round(kind_weight(kind, text), 3)
    frags = (text.lower(),) if kind is Kind.FACT else fragments_of(text)
    return Signature(text=text, fragments=frags, kind=kind, origin=origin, weight=weight)


# What a runbook's prose names, by kind; the first that fits a whole literal is its kind.
_NAMED = (
    (_ACL_CODE, Kind.CODE),
    (_CANN_CODE, Kind.CODE),
    (_EXCEPTION, Kind.EXCEPTION),
    (_FLAG, Kind.FLAG),
    (_ENV, Kind.ENV),
)


# Numbers that change from run to run: sizes, ids, addresses, times. Not the Ascend codes
# (507903, EJ0003, ERR02200), which name the failure.
_VARYING = re.compile(r"0x[0-9a-fA-F]+|(?<![A-Za-z0-9_])(?!\d{6}(?![\d.:]))\d+(?:[.:]\d+)*")
_LEADING_CLASS = re.compile(r"^\s*(?:[A-Za-z_][\w.]*)?\s*:?\s*")
_LEARNED_MIN = 12  # letters of message beyond the exception name


def learned(line: str) -> Signature | None:
    """A root-cause line a user tied to an entry, as a signature of that entry.

    Numbers, addresses and sizes vary from one run to the next, so they are left out: the
    fragments between them, in order on one line, must all be there. A line that says no
    more than its exception class (`AssertionError`, `RuntimeError: 12`) teaches nothing.
    """
    line = line.strip()
    frags = tuple(f for f in (p.strip().lower() for p in _VARYING.split(line)) if len(f) >= 3)
    message = _LEADING_CLASS.sub("", " ".join(frags), count=1)
    specific = _ACL_CODE.search(line) or _CANN_CODE.search(line)
    if not frags or (sum(c.isalpha() for c in message) < _LEARNED_MIN and not specific):
        return None
    joined = " ... ".join(frags)
    return Signature(line, frags, Kind.LITERAL, Origin.LEARNED, kind_weight(Kind.LITERAL, joined))


def _classify(literal: str) -> Kind:
    """The kind of an inline-code literal: a bare flag is a flag, a bare code a code."""
    for pattern, kind in _NAMED:
        if pattern.fullmatch(literal):
            return kind
    return Kind.LITERAL


def _found_in(text: str) -> Iterable[tuple[str, Kind]]:
    for literal in _INLINE_CODE.findall(text):
        if len(literal.strip(" .:/")) >= 3:
            literal = literal.strip()
            yield literal, _classify(literal)
    for pattern, kind in _NAMED:
        for found in pattern.findall(text):
            yield found, kind


def derive_signatures(title: str, symptoms: Iterable[str]) -> tuple[Signature, ...]:
    """Every signature an entry's title and symptoms name, the strongest kept for duplicates.

    Actions are left out: they name remedies (`--enforce-eager`, `HCCL_OP_EXPANSION_MODE=AIV`)
    that show up in any user's command line whatever failed; BM25 still reads them.
    """
    best: dict[str, Signature] = {}
    sources = [(title, Origin.TITLE)]
    sources += [(s, Origin.SYMPTOM) for s in symptoms]
    for text, origin in sources:
        for found, kind in _found_in(text):
            sig = make(found, kind, origin)
            key = " ".join(sig.fragments)
            if key not in best or best[key].weight < sig.weight:
                best[key] = sig
    return tuple(best.values())
