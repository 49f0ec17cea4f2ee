"""A crafted paste costs time in proportion to its size, never more.

Anyone who can message the bot can paste: a pattern that backtracks over whitespace, or a
loop that rescans a line, turns one paste into seconds or minutes of a held GIL. Each family
below is cleaned (`normalise`) and read (`read`) at two sizes, n and 4n: four times the input
may take at most eight times as long (a linear step takes four, a quadratic one sixteen, so
noise of twice either way does not decide). Each timing is this thread's CPU time (other work
on the machine, and threads an earlier test left in this process, do not count), the best of
three with the garbage collector off, each over enough calls to last several milliseconds; a
family over the bound is measured again, up to three times.
"""

from __future__ import annotations

import gc
import random
import re
import time
from collections.abc import Callable

import pytest

from kb.logtext import LogLine, _bar, normalise
from kb.reading import read

_LINES = 8  # distinct lines per input: the cleaner reads a repeated line only once
_MIN_SECONDS = 0.003
_GROWTH = 4  # the large input is this many times the small one
_BOUND = 8.0  # linear growth takes 4 times as long, quadratic 16
_HEAD = "ERROR 11-28 10:00:00 [core.py:1] RuntimeError: boom\n"  # so the paste is read


def _lines(line: Callable[[int, int], str]) -> Callable[[int], str]:
    """`_LINES` distinct lines, each grown with n (at 4n still under the 8000-character clip)."""
    return lambda n: _HEAD + "".join(line(i, n) + "\n" for i in range(_LINES))


ERROR_PREFIX = "ERROR 11-28 10:00:00 [2026-01-01 10:00:00 "

# name: (input of size ~n, n)
FAMILIES: dict[str, tuple[Callable[[int], str], int]] = {
    "whitespace runs": (_lines(lambda i, n: " " * n + f"shard {i} loaded"), 1950),
    "whitespace runs, tabs": (_lines(lambda i, n: f"shard {i}" + " \t" * n + "loaded"), 950),
    "one \\r part of spaces": (lambda n: _HEAD + "x\r" + " " * n, 50_000),
    "\\r storm": (lambda n: _HEAD + "x" + "\r" * n + "y", 100_000),
    "\\r storm, spaces": (lambda n: _HEAD + "x" + "\r " * n, 50_000),
    "\\r storm, tiny parts": (lambda n: _HEAD + "".join(f"\r{i}" for i in range(n)), 5000),
    "\\r progress redraws": (
        lambda n: (
            _HEAD + "".join(f"\rLoading: {i % 100:3d}%|{'#' * (i % 10):10s}|" for i in range(n))
        ),
        5000,
    ),
    "[repeated bait": (_lines(lambda i, n: f"{i} [repeated" + " " * n), 1950),
    "[repeated marker after spaces": (
        _lines(lambda i, n: f"{i}" + " " * n + "[repeated 2x across cluster]"),
        1950,
    ),
    "nested quotes": (_lines(lambda i, n: ">" * n + f" {i}"), 1950),
    "nested brackets": (_lines(lambda i, n: "[" * n + f"{i}" + "]" * n), 950),
    "nested parens": (_lines(lambda i, n: "(" * n + f"{i}" + ")" * n), 950),
    "nested double quotes": (_lines(lambda i, n: '"' * n + f"{i}"), 1950),
    "one long line": (lambda n: _HEAD + "RuntimeError: boom at 0x7f " * n, 10_000),
    "a.a.a.a": (_lines(lambda i, n: f"error {i} " + "a." * n), 950),
    "%| bait": (_lines(lambda i, n: " " * n + f"x{i}%|"), 1950),
    "%| bait, one part": (lambda n: _HEAD + "x\r" + " " * n + "1%|", 50_000),
    "%| bait, short parts": (lambda n: _HEAD + "x" + ("\r" + " " * n + "%|") * 2000, 60),
    "ERROR prefix bait": (_lines(lambda i, n: ERROR_PREFIX * (n // 44) + f"x{i}"), 1950),
    "ERROR: prefix bait": (_lines(lambda i, n: "ERROR: " * (n // 7) + f"x{i}"), 1950),
    "blank lines": (lambda n: _HEAD + "\n" * n + "x", 100_000),
}


def _best(call: Callable[[], object], number: int, tries: int = 3) -> float:
    best = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(tries):
            started = time.thread_time()
            for _ in range(number):
                call()
            best = min(best, time.thread_time() - started)
    finally:
        gc.enable()
    return best


def _growth(at: Callable[[int], Callable[[], object]], n: int) -> float:
    """time(4n) / time(n), with as many calls per timing as make n last a few ms."""
    small, large = at(n), at(_GROWTH * n)
    number = 1
    while _best(small, number, tries=1) < _MIN_SECONDS and number < 10_000:
        number *= 4
    ratio = float("inf")
    for _ in range(3):
        ratio = min(ratio, _best(large, number) / max(_best(small, number), 1e-9))
        if ratio <= _BOUND:
            break
    return ratio


def _cleaning(make: Callable[[int], str]) -> Callable[[int], Callable[[], object]]:
    def at(n: int) -> Callable[[], object]:
        text = make(n)
        return lambda: normalise(text)

    return at


def _reading(make: Callable[[int], str]) -> Callable[[int], Callable[[], object]]:
    def at(n: int) -> Callable[[], object]:
        lines: tuple[LogLine, ...] = normalise(make(n)).lines
        return lambda: read(lines)

    return at


@pytest.mark.parametrize("family", FAMILIES)
def test_cleaning_time_grows_linearly(family: str) -> None:
    make, n = FAMILIES[family]
    assert _growth(_cleaning(make), n) <= _BOUND


@pytest.mark.parametrize("family", FAMILIES)
def test_reading_time_grows_linearly(family: str) -> None:
    make, n = FAMILIES[family]
    assert _growth(_reading(make), n) <= _BOUND


# The regular expression the linear bar reader replaced (it backtracked over whitespace).
_OLD_PROGRESS = re.compile(r"^(?P<desc>[^|\r\n]{0,120}?):?\s*\d{1,3}%\|")


def test_progress_bars_are_read_as_the_old_pattern_read_them() -> None:
    rng = random.Random(7)
    alphabet = ["a", " ", "\t", ":", "%", "|", "1", "9", "0", "#", "\u00a0", "\u0663"]
    cases = [
        "Capturing CUDA graphs (decode, FULL):  20%|##        | 7/35",
        "Loading safetensors checkpoint shards: 100% Completed | 17/17",
        "12345%|x",
        ": 5%|",
        "x" * 119 + ":   7%|",
        "x" * 121 + " 7%|",
        "a|b 5%|",
        *("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(20_000)),
    ]
    for part in cases:
        old = _OLD_PROGRESS.match(part)
        assert _bar(part) == (old.group("desc") if old else None), repr(part)
