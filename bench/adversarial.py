"""Adversarial pastes: triage time of crafted 1 MB inputs against a 1 MB ordinary log.

    python bench/adversarial.py [--mb 1.0] [--repeat 3] [--only NAME ...]

Each input goes through the real `Triager` (the shipped runbook, the bundled model, offline)
and, apart, through the cleaning and reading steps alone. Prints the best of `--repeat`
timings and the ratio to the ordinary log (the target is 3x or less). Asserts nothing.
Run on an otherwise idle machine: timings on a shared one are noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kb  # noqa: E402
from kb import KBConfig  # noqa: E402
from kb.logtext import normalise  # noqa: E402
from kb.reading import read  # noqa: E402


def ordinary(size: int) -> str:
    """Lines of the shipped healthy log and the real vLLM logs, repeated to `size`."""
    lines = kb.BACKGROUND_LOG.read_text().splitlines()
    for log in sorted((ROOT / "tests" / "real_vllm").glob("*.log")):
        lines += log.read_text(errors="replace").splitlines()
    return _fill("\n".join(lines) + "\n", size)


def _fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# Each crafted input starts with a real error line, so triage reads it rather than refusing
# it as empty (a paste of only whitespace is refused before any pattern runs).
HEAD = "ERROR 11-28 10:00:00 [core.py:1] RuntimeError: NPU function error: error code is 507903\n"


def families(size: int) -> dict[str, Callable[[], str]]:
    """Inputs crafted against the cleaning patterns, each about `size` characters."""
    k = 100_000  # nesting depth of the quote / bracket families
    return {
        "whitespace runs": lambda: _fill(" " * 4000 + "loading x" + "\t " * 2000 + "\n", size),
        "whitespace runs, error": lambda: _fill(
            " " * 4000 + "RuntimeError: x" + " " * 4000 + "\n", size
        ),
        "one \\r part of spaces": lambda: "\r" + " " * (size - 1),
        "\\r storm": lambda: "\r" * size,
        "\\r storm, spaces": lambda: _fill("\r ", size),
        "\\r storm, tiny parts": lambda: _fill("\rx\ry", size),
        "\\r progress redraws": lambda: "".join(
            f"\rLoading safetensors shards: {i % 100:3d}%|{'#' * (i % 10):10s}| {i}/9999"
            for i in range(size // 60)
        ),
        "[repeated bait": lambda: _fill("[repeated" + " " * 4000 + "\n", size),
        "[repeated bait, marker": lambda: _fill(" " * 4000 + "[repeated 3x across cluster]", size),
        "nested quotes": lambda: _fill(">" * k + "\n", size),
        "nested brackets": lambda: _fill("[" * k + "]" * k + "\n", size),
        "nested parens": lambda: _fill("(" * k + ")" * k + "\n", size),
        "nested double quotes": lambda: _fill('"' * k + "\n", size),
        "one 1 MB line": lambda: _fill("RuntimeError: boom at 0x7f  ", size),
        "a.a.a.a": lambda: _fill("a.", size),
        "a.a.a.a with error": lambda: _fill("error " + "a." * 3000 + "\n", size),
        "%| bait": lambda: _fill(" " * 3000 + "%|", size),
        "%| bait, digits": lambda: _fill("\r" + " " * 3000 + "1%|", size),
        "%| bait, short parts": lambda: _fill("\r" + " " * 100 + "%|", size),
        "ERROR prefix bait": lambda: _fill("ERROR 11-28 10:00:00 [2026-01-01 10:00:00 ", size),
        "ERROR: prefix bait": lambda: _fill("ERROR:" + " " * 3000, size),
        "blank lines": lambda: "\n" * size,
    }


def best(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU time of this process (all its threads) over `repeat` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        started, used = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    return min(wall), min(cpu)


def stall(call: Callable[[], object]) -> float:
    """The longest another thread waited for the GIL while `call` ran: what an ack, a
    Socket Mode frame or an agent's heartbeat in the same process would wait."""
    done = threading.Event()
    longest = 0.0

    def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        call()
    finally:
        done.set()
        ticker.join()
    return longest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1.0, help="size of each input")
    parser.add_argument("--repeat", type=int, default=3, help="timings per input; best kept")
    parser.add_argument("--only", nargs="*", default=[], help="family names to run")
    args = parser.parse_args()
    size = int(args.mb * 1_000_000)
    triager = kb.load(KBConfig())
    triager.triage("warm up: RuntimeError: x")

    def answer(text: str) -> None:
        with contextlib.suppress(kb.InputError):  # refused ("the input is empty"): an answer
            triager.triage(text)

    def timings(text: str) -> tuple[float, float, float, float]:
        wall, cpu = best(lambda: answer(text), args.repeat)
        _, clean = best(lambda: read(normalise(text).lines), args.repeat)
        return wall, cpu, clean, stall(lambda: answer(text))

    base = timings(ordinary(size))
    print(f"{args.mb} MB inputs; triage wall-clock and CPU time, ratio to the ordinary log;")
    print("clean+read: CPU time of normalise and read alone (no model); stall: the longest")
    print("a 1 ms ticker thread waited while the paste was triaged (the GIL held)")
    print(
        f"{'input':28s} {'wall':>8s} {'ratio':>6s} {'cpu':>8s} {'ratio':>6s} "
        f"{'clean+read':>11s} {'stall':>7s}"
    )
    worst = 0.0
    rows = [("ordinary log", base)]
    for name, make in families(size).items():
        if not args.only or name in args.only:
            rows.append((name, timings(HEAD + make())))
    for name, (wall, cpu, clean, held) in rows:
        worst = max(worst, min(wall / base[0], cpu / base[1]))
        print(
            f"{name:28s} {wall * 1e3:6.0f}ms {wall / base[0]:5.1f}x {cpu * 1e3:6.0f}ms "
            f"{cpu / base[1]:5.1f}x {clean * 1e3:9.0f}ms {held * 1e3:5.0f}ms",
            flush=True,
        )
    print(f"worst ratio {worst:.1f}x (the lower of wall and CPU per input; target 3x or less)")


if __name__ == "__main__":
    main()
