"""What a verdict offers to run next: the steps its `NextStep` names, first the one it
recommends, and the job each step asks for. A chat's buttons carry a step by name
(`next_value`), and the job comes back from it (`next_spec`)."""

from __future__ import annotations

import json

from runners.run.result import NextStep
from runners.spec.job import JobSpec


def next_steps(nxt: NextStep | None) -> list[str]:
    """The steps to offer, first the recommended one: "eager", "fallback:NAME[=N]", or a
    playbook to run again; none when the verdict names no next step."""
    if nxt is None:
        return []
    first = f"fallback:{nxt.fallback}" if nxt.playbook == "fallback" else nxt.playbook
    more = [a if a == "eager" else f"fallback:{a}" for a in nxt.alternatives]
    return [first, *[m for m in more if m != first]]


def next_value(job_id: int, step: str) -> str:
    """A step of job `job_id`, as a button's value: {"job": id, "next": step}."""
    return json.dumps({"job": job_id, "next": step})


def next_spec(parent: JobSpec, step: str) -> JobSpec:
    """The job a next step asks for: the parent's model, args and host."""
    if step.startswith("fallback:"):
        fallback = step.split(":", 1)[1]
        return parent.model_copy(
            update={"playbook": "fallback", "fallback": fallback, "record_golden": False}
        )
    if step == "eager":  # another config: its replies are not what was asked to be recorded
        return parent.model_copy(
            update={"playbook": "eager", "fallback": None, "record_golden": False}
        )
    return parent
