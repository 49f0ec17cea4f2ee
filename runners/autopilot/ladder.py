"""Autopilot: from a failing model to a configuration that works, one relaunch at a time.

The ladder is driven by each rung's verdict (`runners.run.verdict.classify`: the runbook's
next step and its alternatives), never by a fixed list: graph capture or a first request
fails → eager isolation; eager passes → the graph-keeping fallbacks, since a config that
keeps graph mode is better than eager; the VL + dynamo failure → `torchdynamo-disable`; a
KV cache too small → the length the error estimates; the host (a port, EJ0003) → one clean
retry, then stop; an architecture, remote-code or weight failure → stop at once. Never the
same config twice. Where the first failure does not depend on the weights, the relaunches
run on dummy weights and the config that works is confirmed on the real ones
(`runners.autopilot.cheap_rungs`). `plan` is pure: the CLI and the bot each drive it with real jobs.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from runners.autopilot import cheap_rungs, length_probe
from runners.run.comparisons import GRAPH_VS_EAGER
from runners.run.result import RunResult
from runners.spec.job import JobSpec, launch_plan
from runners.states import Status

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
    # Rungs ran on dummy weights: True once the config was confirmed on the real weights,
    # False when it failed there; None when no rung ran on dummy weights (or no confirm ran).
    confirmed: bool | None = None


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
    probe the longest `--max-model-len` it starts and answers with. Cheap rungs first:
    after a failure the weights do not decide, the relaunches run on dummy weights (one
    relaunch is kept for the confirm), and the config that works on them is run once more
    on the real weights before the ladder says it works."""
    if not steps:
        return first_rung(base)
    if cheap_rungs.load_format(base) is not None:
        return _plan(base, steps, max_steps)  # the user's own load format: no confirm either
    if cheap_rungs.cheap(base, steps, max_steps):
        decision = _plan(cheap_rungs.with_dummy(base), steps, max_steps, reserve=1)
    else:
        decision = _plan(base, _refuted_as_failed(steps), max_steps)
    return _confirm(steps, decision, max_steps)


def _confirm(steps: Sequence[Step], decision: Rung | Done, max_steps: int) -> Rung | Done:
    """A config that works on dummy weights is not the answer until the real weights agree."""
    if not isinstance(decision, Done):
        return decision
    best, dummies = decision.best, [s for s in steps if cheap_rungs.dummy(s.spec)]
    if not dummies:
        return decision
    if best is None or not cheap_rungs.dummy(best.spec):
        confirmed = _confirmed(steps, best) if decision.outcome == "works" else None
        if confirmed is None and cheap_rungs.confirm_failed(steps):
            confirmed = False  # the ruled-out rungs say which config failed on real weights
        said = "; confirmed on the real weights" if confirmed else ""
        return replace(decision, why=decision.why + said, confirmed=confirmed)
    real = cheap_rungs.without_dummy(best.spec)
    if decision.outcome != "works" or config_key(real) in {config_key(s.spec) for s in steps}:
        return decision  # the rungs say they ran on dummy weights
    if len(steps) > max_steps:
        why = f"{decision.why}; it works on dummy weights, and no relaunch is left to confirm it"
        return replace(decision, outcome="stopped", why=why)
    return Rung(real, f"confirm on the real weights: {_describe(best.spec)} works")


def _confirmed(steps: Sequence[Step], best: Step | None) -> bool | None:
    """The working config ran on dummy weights first and passed on the real ones too."""
    if best is None:
        return None
    key = config_key(best.spec)
    cheap = [s for s in steps if cheap_rungs.dummy(s.spec) and s.result.status is Status.PASSED]
    found = any(config_key(cheap_rungs.without_dummy(s.spec)) == key for s in cheap)
    return True if found else None


def _refuted_as_failed(steps: Sequence[Step]) -> list[Step]:
    """Once a confirm failed, a pass on dummy weights whose config failed on the real ones
    counts as the failure it is: the ladder climbs on from the real weights' verdict."""
    if not cheap_rungs.confirm_failed(steps):
        return list(steps)
    failed = {config_key(s.spec) for s in steps if s.result.status is not Status.PASSED}
    seen = []
    for s in steps:
        real = config_key(cheap_rungs.without_dummy(s.spec))
        if cheap_rungs.dummy(s.spec) and s.result.status is Status.PASSED and real in failed:
            verdict = "passed on dummy weights only: it failed on the real ones"
            update = {"status": Status.FAILED, "verdict": verdict, "next": None}
            s = Step(s.spec, s.why, s.result.model_copy(update=update))
        seen.append(s)
    return seen


def _plan(base: JobSpec, steps: Sequence[Step], max_steps: int, reserve: int = 0) -> Rung | Done:
    """The ladder and the length probe, `reserve` relaunches kept back (the confirm)."""
    climbed = next(
        (
            k
            for k in range(1, len(steps) + 1)
            if isinstance(_climb(base, steps[:k], max_steps, reserve), Done)
        ),
        None,
    )
    if climbed is None:
        return _climb(base, steps, max_steps, reserve)
    done = _climb(base, steps[:climbed], max_steps, reserve)
    assert isinstance(done, Done)
    if done.outcome != "works" or not length_probe.wanted(base, steps):
        return done if climbed == len(steps) else _climb(base, steps, max_steps, reserve)
    if steps[-1].result.status in ("cancelled", "lost"):
        return _climb(base, steps, max_steps, reserve)
    probe = length_probe.next_length(steps)
    tried = {config_key(s.spec) for s in steps}
    longest = length_probe.longest(steps)
    found = f"; the longest --max-model-len that works: {longest[0]}" if longest else ""
    if longest and (memory := longest[1].result.evidence.get("kv_cache")):
        found += f" ({memory})"  # the room that length left, as the server said it
    if probe is None or config_key(probe.spec) in tried:
        return _done("works", done.why + found, steps)
    if len(steps) > max_steps - reserve:
        return _done("works", done.why + found + " (the relaunches are used up)", steps)
    return Rung(probe.spec, probe.why)


def _climb(base: JobSpec, steps: Sequence[Step], max_steps: int, reserve: int = 0) -> Rung | Done:
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
            if len(steps) > max_steps - reserve:
                return _done("stopped", f"the ladder's {max_steps} relaunches are used up", steps)
            return rung
    if any(s.result.status is Status.PASSED for s in steps):
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
    passed = [s for s in steps if s.result.status is Status.PASSED]
    graph = [s for s in passed if graph_mode(s.spec)]
    agreeing = [s for s in graph if _agrees_with_eager(s)]
    eager = [s for s in passed if not graph_mode(s.spec)]
    found = agreeing or eager or graph
    if not found:
        return None
    # The longest length that works (a length probe); real weights over dummy ones at the
    # same length (the confirm); the earliest among equals.
    return max(
        found,
        key=lambda s: (
            s.result.max_model_len or length_probe.asked_length(s.spec) or 0,
            not cheap_rungs.dummy(s.spec),
        ),
    )


def _agrees_with_eager(step: Step) -> bool:
    """No graph-vs-eager comparison of this run says its replies differ (none: agrees).
    Random weights answer random text: on dummy weights there is nothing to compare."""
    if cheap_rungs.dummy(step.spec):
        return True
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
    doctor = result.status is Status.BLOCKED and result.doctor is not None and not result.doctor.ok
    if doctor and result.next is None:
        return f"the doctor found what a launch would fail on: {result.verdict}"
    if doctor:
        return None  # a fallback avoids what the doctor found: the ladder takes it
    if result.status is Status.BLOCKED:
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
    name = f"fallback {spec.fallback}" if spec.playbook == "fallback" else spec.playbook
    return name + (" on dummy weights" if cheap_rungs.dummy(spec) else "")


def command(
    spec: JobSpec, vllm: Sequence[str] = ("vllm",)
) -> tuple[list[str], dict[str, str], str]:
    """The working config as argv, env and one copyable shell line."""
    args, env, _ = launch_plan(spec)
    argv = [*vllm, "serve", spec.model, *args]
    line = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())), shlex.join(argv)])
    return argv, env, line
