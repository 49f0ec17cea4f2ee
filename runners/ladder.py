"""Autopilot: from a failing model to a configuration that works, one relaunch at a time.

The ladder is driven by each rung's verdict (`runners.verdict.classify`: the runbook's
next step and its alternatives), never by a fixed list: graph capture or a first request
fails → eager isolation; eager passes → the graph-keeping fallbacks, since a config that
keeps graph mode is better than eager; the VL + dynamo failure → `torchdynamo-disable`; a
KV cache too small → the length the error estimates; the host (a port, EJ0003) → one clean
retry, then stop; an architecture, remote-code or weight failure → stop at once. Never the
same config twice. `plan` is pure: the CLI and the bot each drive it with real jobs.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from runners import length_probe
from runners.comparisons import GRAPH_VS_EAGER
from runners.result import RunResult
from runners.spec import JobSpec, launch_plan

Outcome = Literal["works", "no_config", "stopped", "cancelled", "timeout"]
MAX_STEPS = 6  # relaunches after the first rung (ONCALL_AUTOPILOT_STEPS)

# Failures no relaunch changes: the checkpoint or the code must change.
_STOP_ENTRIES = frozenset(
    {
        "architecture-not-recognized",
        "remote-code-import-fails-on-transformers-symbols",
        "weight-loading-key-mismatch",
        "fp8-checkpoint-on-ascend-a2-a3-must-dequant-to-bf16",
        "qk-norm-mismatch-kv-heads-tp-head-divisibility",
    }
)
_HOST = "the host, not the model"


@dataclass(frozen=True)
class Rung:
    spec: JobSpec
    why: str  # the reason this rung was chosen, in words


@dataclass(frozen=True)
class Step:
    """One rung that ran: what it was, why, and how it ended."""

    spec: JobSpec
    why: str
    result: RunResult


@dataclass(frozen=True)
class Done:
    outcome: Outcome
    why: str
    best: Step | None = None  # the best working rung: graph mode over eager
    ruled_out: tuple[str, ...] = field(default=())


def config_key(spec: JobSpec) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """What the server is started with: two rungs with the same key are the same config."""
    args, env, _ = launch_plan(spec)
    return tuple(args), tuple(sorted(env.items()))


def first_rung(base: JobSpec) -> Rung:
    return Rung(base.model_copy(update={"playbook": "smoke", "fallback": None}), "as asked")


def graph_mode(spec: JobSpec) -> bool:
    return "--enforce-eager" not in launch_plan(spec)[0]


def plan(base: JobSpec, steps: Sequence[Step], max_steps: int = MAX_STEPS) -> Rung | Done:
    """The next rung after `steps`, or how the ladder ends. Once a config works, and the
    length is in question (`--probe-max-len`, or a failure about length), the rungs after
    probe the longest `--max-model-len` it starts and answers with."""
    if not steps:
        return first_rung(base)
    climbed = next(
        (
            k
            for k in range(1, len(steps) + 1)
            if isinstance(_climb(base, steps[:k], max_steps), Done)
        ),
        None,
    )
    if climbed is None:
        return _climb(base, steps, max_steps)
    done = _climb(base, steps[:climbed], max_steps)
    assert isinstance(done, Done)
    if done.outcome != "works" or not length_probe.wanted(base, steps):
        return done if climbed == len(steps) else _climb(base, steps, max_steps)
    if steps[-1].result.status in ("cancelled", "lost"):
        return _climb(base, steps, max_steps)
    probe = length_probe.next_length(steps)
    tried = {config_key(s.spec) for s in steps}
    longest = length_probe.longest(steps)
    found = f"; the longest --max-model-len that works: {longest[0]}" if longest else ""
    if probe is None or config_key(probe.spec) in tried:
        return _done("works", done.why + found, steps)
    if len(steps) > max_steps:
        return _done("works", done.why + found + " (the relaunches are used up)", steps)
    return Rung(probe.spec, probe.why)


def _climb(base: JobSpec, steps: Sequence[Step], max_steps: int) -> Rung | Done:
    """The ladder itself: from each verdict to the next rung, until a config works."""
    last = steps[-1]
    status = last.result.status
    if status == "cancelled":
        return _done("cancelled", "cancelled", steps)
    if status == "lost":
        why = f"the agent running rung {len(steps)} was lost: the ladder stops with what it learned"
        return _done("stopped", why, steps)
    if status == "passed" and not graph_mode(base):
        return _done("works", f"{_describe(last.spec)} works with --enforce-eager, as asked", steps)
    if status == "passed" and graph_mode(last.spec) and _agrees_with_eager(last):
        return _done("works", f"{_describe(last.spec)} starts and answers in graph mode", steps)
    stop = _stop_reason(last.result)
    if stop:
        return _done("no_config", stop, steps)
    tried = {config_key(s.spec) for s in steps}
    for rung in _candidates(base, steps):
        if config_key(rung.spec) not in tried or _retry_allowed(rung, steps):
            if len(steps) > max_steps:
                return _done("stopped", f"the ladder's {max_steps} relaunches are used up", steps)
            return rung
    if any(s.result.status == "passed" for s in steps):
        best = best_step(steps)
        if best is not None and graph_mode(best.spec):
            why = f"{_describe(best.spec)} works, though its answers differ from eager's"
            return _done("works", why, steps)
        return _done("works", "no graph-mode config answers as eager does; eager works", steps)
    if status == "timeout":
        return _done("timeout", f"{_describe(last.spec)} timed out; nothing left to try", steps)
    if _HOST in last.result.verdict:
        return _done(
            "stopped", "the host failed the run twice: it is the host, not the model", steps
        )
    return _done("no_config", _no_relaunch(last.result), steps)


def best_step(steps: Sequence[Step]) -> Step | None:
    """The working config to keep: graph mode whose answers match eager's, then eager, then
    graph mode that answers differently (temperature 0); the earliest of each."""
    passed = [s for s in steps if s.result.status == "passed"]
    graph = [s for s in passed if graph_mode(s.spec)]
    agreeing = [s for s in graph if _agrees_with_eager(s)]
    eager = [s for s in passed if not graph_mode(s.spec)]
    found = agreeing or eager or graph
    if not found:
        return None
    # The longest length that works (a length probe); the earliest among equals.
    return max(
        found, key=lambda s: s.result.max_model_len or length_probe.asked_length(s.spec) or 0
    )


def _agrees_with_eager(step: Step) -> bool:
    """No graph-vs-eager comparison of this run says its replies differ (none: agrees)."""
    answers = step.result.answers
    comparisons = answers.comparisons if answers is not None else []
    return not any(c.kind == GRAPH_VS_EAGER and c.differs for c in comparisons)


def _done(outcome: Outcome, why: str, steps: Sequence[Step]) -> Done:
    ruled = tuple(
        f"{_describe(s.spec)}: {s.result.verdict or s.result.status}"
        for s in steps
        if s.result.status != "passed"
    )
    best = best_step(steps) if outcome in ("works", "stopped", "timeout", "cancelled") else None
    return Done(outcome, why, best, ruled)


def _stop_reason(result: RunResult) -> str | None:
    """Why no relaunch can help, or None."""
    top = result.triage.top if result.triage else None
    doctor = result.status == "blocked" and result.doctor is not None and not result.doctor.ok
    if doctor and result.next is None:
        return f"the doctor found what a launch would fail on: {result.verdict}"
    if doctor:
        return None  # a fallback avoids what the doctor found: the ladder takes it
    if result.status == "blocked":
        return f"the host was not ready for a run: {result.verdict}"
    sure = result.triage is not None and result.triage.verdict == "match"
    if top is not None and sure and top.entry_id in _STOP_ENTRIES:
        return f"no relaunch helps: {top.title}"
    return None


def _candidates(base: JobSpec, steps: Sequence[Step]) -> list[Rung]:
    """Next steps the verdicts offered, the latest rung's first, then earlier ones left."""
    found: list[Rung] = []
    for step in reversed(steps):
        nxt = step.result.next
        if nxt is None:
            continue
        names = [f"fallback:{nxt.fallback}" if nxt.playbook == "fallback" else nxt.playbook]
        names += [a if a == "eager" else f"fallback:{a}" for a in nxt.alternatives]
        for name in names:
            found.append(Rung(_spec_for(base, step.spec, name), nxt.reason))
    return found


def _spec_for(base: JobSpec, ran: JobSpec, step: str) -> JobSpec:
    if step.startswith("fallback:"):
        return base.model_copy(update={"playbook": "fallback", "fallback": step.split(":", 1)[1]})
    if step == "eager":
        return base.model_copy(update={"playbook": "eager", "fallback": None})
    return ran  # the same again: a retry (the host)


def _retry_allowed(rung: Rung, steps: Sequence[Step]) -> bool:
    """One clean retry of the same config, when the host failed it (a port, EJ0003)."""
    same = [s for s in steps if config_key(s.spec) == config_key(rung.spec)]
    return len(same) == 1 and _HOST in same[0].result.verdict


def _no_relaunch(result: RunResult) -> str:
    top = result.triage.top if result.triage else None
    entry = f" (runbook: {top.title})" if top else ""
    return f"no relaunch helps: {result.verdict}{entry}"


def _describe(spec: JobSpec) -> str:
    if spec.playbook == "fallback":
        return f"fallback {spec.fallback}"
    return spec.playbook


def command(
    spec: JobSpec, vllm: Sequence[str] = ("vllm",)
) -> tuple[list[str], dict[str, str], str]:
    """The working config as argv, env and one copyable shell line."""
    args, env, _ = launch_plan(spec)
    argv = [*vllm, "serve", spec.model, *args]
    line = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())), shlex.join(argv)])
    return argv, env, line
