"""The practical max length: once a config works, the longest `--max-model-len` it starts
and answers with, found by halving the gap between the longest length that worked and the
shortest that failed (the runbook's "find practical max by successful startup + serving").

Pure: the autopilot's plan asks for the next length; each is a normal rung.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from runners.run.result import RunResult
from runners.spec.job import JobSpec, launch_plan

GRAIN = 256  # lengths are tried in multiples of this; a gap this small is closed
_FAILED = ("failed", "blocked", "timeout")


class Ran(Protocol):
    """A rung that ran (runners.autopilot.ladder.Step)."""

    @property
    def spec(self) -> JobSpec: ...

    @property
    def result(self) -> RunResult: ...


@dataclass(frozen=True)
class Probe:
    spec: JobSpec
    why: str


def asked_length(spec: JobSpec) -> int | None:
    """The `--max-model-len` the server is started with, if the config names one."""
    args = launch_plan(spec)[0]
    for i, word in enumerate(args[:-1]):
        if word == "--max-model-len" and args[i + 1].isdigit():
            return int(args[i + 1])
    return None


def wanted(base: JobSpec, steps: Sequence[Ran]) -> bool:
    """Asked for, or the failure was about length (the KV cache, the config's positions)."""
    if base.probe_max_len:
        return True
    return any(_about_length(s) for s in steps)


def longest(steps: Sequence[Ran]) -> tuple[int, Ran] | None:
    """The longest length a passing rung served, and that rung."""
    found = [(n, s) for s in steps if _status(s) == "passed" and (n := _served(s)) is not None]
    return max(found, key=lambda pair: pair[0]) if found else None


def next_length(steps: Sequence[Ran]) -> Probe | None:
    """The next length to try, or None when the gap is closed or nothing above failed."""
    best = longest(steps)
    if best is None:
        return None
    lo, rung = best
    above = [n for s in steps if _status(s) in _FAILED and (n := asked_length(_spec(s))) and n > lo]
    above += [n + 1 for s in steps if (n := _ceiling(s)) is not None]
    if not above:
        return None
    hi = min(above)
    if hi - lo <= max(GRAIN, lo // 16):
        return None
    mid = max(lo + GRAIN, (lo + hi) // 2 // GRAIN * GRAIN)
    if mid >= hi:
        return None
    spec = _with_length(_spec(rung), mid)
    return Probe(spec, f"probe: the longest length that works is between {lo} and {hi}")


def _with_length(spec: JobSpec, length: int) -> JobSpec:
    if spec.playbook == "fallback" and (spec.fallback or "").startswith("max-model-len="):
        return spec.model_copy(update={"fallback": f"max-model-len={length}"})
    args = list(spec.args)
    if "--max-model-len" in args[:-1]:
        args[args.index("--max-model-len") + 1] = str(length)
    else:
        args += ["--max-model-len", str(length)]
    return spec.model_copy(update={"args": tuple(args)})


def _spec(step: Ran) -> JobSpec:
    return step.spec


def _status(step: Ran) -> str:
    return step.result.status


def _served(step: Ran) -> int | None:
    return step.result.max_model_len or asked_length(step.spec)


def _ceiling(step: Ran) -> int | None:
    """A length no relaunch goes past: the model's own positions, as the doctor or vLLM
    said when it refused a longer one (the KV cache's estimate is no such bound)."""
    result = step.result
    by_doctor = result.doctor is not None and any(
        f.check == "max_model_len" for f in result.doctor.errors
    )
    if not (by_doctor or "beyond the model's config" in result.verdict):
        return None
    value = (result.next.fallback or "") if result.next else ""
    length = value.removeprefix("max-model-len=")
    return int(length) if value.startswith("max-model-len=") and length.isdigit() else None


def _about_length(step: Ran) -> bool:
    nxt = step.result.next
    return nxt is not None and (nxt.fallback or "").startswith("max-model-len=")
