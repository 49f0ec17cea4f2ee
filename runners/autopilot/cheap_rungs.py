"""Cheap rungs first: where a failure may not depend on the weights (graph capture, an
operator, TorchDynamo, the KV cache and length), the ladder's relaunches run with
`--load-format dummy` (random weights, nothing read from disk: startup in a fraction of a
real load), and the config that works on them is confirmed with the real weights at the end.

Which failures: decided from the runbook entry the triage named for the first failure, and,
where there is no triage (a verdict from an agent), from the next step the verdict offered.
Weight failures (loading, key mismatch, FP8, answers that are not answers) never use dummy
weights: the weights are the question there. Pure, like `runners.autopilot.ladder`.
"""

from __future__ import annotations

from collections.abc import Sequence

from runners.autopilot.length_probe import Ran
from runners.run.result import RunResult
from runners.spec.job import JobSpec

DUMMY = ("--load-format", "dummy")
LOAD_FORMAT = "--load-format"

# Runbook entries whose failure reproduces on random weights of the same shapes.
_WEIGHTLESS = frozenset(
    {
        "acl-graph-capture-fails-507903",
        "startup-appears-stuck-in-graph-mode",
        "false-ready-startup-succeeds-but-first-request-crashes",
        "mla-attention-runtime-failures-after-ready",
        "vl-torchdynamo-interpolate-contiguous-failure",
        "config-max-length-works-on-paper-but-not-in-runtime",
    }
)
# Entries about the weights themselves, or about what they answer.
_WEIGHTY = frozenset(
    {
        "weight-loading-key-mismatch",
        "fp8-checkpoint-on-ascend-a2-a3-must-dequant-to-bf16",
        "text-only-isolation-triggers-meta-tensor-load-errors",
        "api-reachable-but-output-quality-odd",
    }
)
# Next steps about graphs, operators and memory: the same on dummy weights.
_WEIGHTLESS_FALLBACKS = ("hccl-aiv", "torchdynamo-disable", "max-model-len=")


def load_format(spec: JobSpec) -> str | None:
    """The `--load-format` the job's own args set, if any."""
    args = list(spec.args)
    for i, word in enumerate(args):
        if word == LOAD_FORMAT and i + 1 < len(args):
            return args[i + 1]
        if word.startswith(LOAD_FORMAT + "="):
            return word.split("=", 1)[1]
    return None


def dummy(spec: JobSpec) -> bool:
    return load_format(spec) == "dummy"


def with_dummy(spec: JobSpec) -> JobSpec:
    if load_format(spec) is not None:
        return spec  # the user's own choice stands
    return spec.model_copy(update={"args": (*spec.args, *DUMMY)})


def without_dummy(spec: JobSpec) -> JobSpec:
    """The same config on the real weights (only the ladder's own dummy is removed)."""
    args = list(spec.args)
    for i in range(len(args) - 1):
        if (args[i], args[i + 1]) == DUMMY:
            return spec.model_copy(update={"args": (*args[:i], *args[i + 2 :])})
    return spec


def weightless(result: RunResult) -> bool:
    """Whether this failure may not depend on the weights: random ones would show it too."""
    if result.status not in ("failed", "timeout"):
        return False
    if result.answers is not None and result.answers.failed:
        return False  # what a model answers is its weights
    if result.stage == "loading":
        return False  # it failed reading the weights
    triage = result.triage
    top = triage.top if triage is not None and triage.verdict in ("match", "likely") else None
    if top is not None and top.entry_id in _WEIGHTY:
        return False
    if top is not None and top.entry_id in _WEIGHTLESS:
        return True
    nxt = result.next
    if nxt is None:
        return False
    if nxt.playbook == "eager":
        return True
    names = [nxt.fallback or ""] if nxt.playbook == "fallback" else []
    return any(n.startswith(_WEIGHTLESS_FALLBACKS) for n in names)


def confirm_failed(steps: Sequence[Ran]) -> bool:
    """A config that worked on dummy weights failed on the real ones: from then on the
    ladder runs on the real weights only."""
    seen_dummy = False
    for step in steps:
        if dummy(step.spec):
            seen_dummy = True
        elif seen_dummy and step.result.status not in ("passed", "cancelled", "lost"):
            return True
    return False


def cheap(base: JobSpec, steps: Sequence[Ran], max_steps: int) -> bool:
    """Whether the next rungs run on dummy weights: the user set no load format, the first
    failure does not depend on the weights, a cheap rung and its confirm fit the bounds,
    and no confirm has failed yet."""
    if load_format(base) is not None or not steps or max_steps < 2:
        return False
    return weightless(steps[0].result) and not confirm_failed(steps)
