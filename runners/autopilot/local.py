"""The autopilot on this host: the ladder's rungs run one after another with
`run_playbook`, each judged and triaged before the next is chosen (`runners.autopilot.ladder.plan`).
The bot drives the same plan with jobs on agents instead."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from runners.autopilot.ladder import MAX_STEPS, Done, Rung, Step, best_step, plan
from runners.replies.golden import ReplyBook, settle
from runners.run.playbook import run_playbook
from runners.run.result import Triager
from runners.run.run_state import Notify, RunnerConfig
from runners.spec.job import JobSpec

BUDGET_S = 4 * 3600.0  # the whole ladder (ONCALL_AUTOPILOT_BUDGET_S)
# A rung never gets less than this to start: a budget nearly spent ends the ladder instead.
_MIN_RUNG_S = 60.0


@dataclass(frozen=True)
class Ladder:
    done: Done
    steps: tuple[Step, ...]


RungStarted = Callable[[int, Rung], None]
RungDone = Callable[[int, Step], None]


def run_ladder(
    base: JobSpec,
    config: RunnerConfig,
    triage: Triager | None = None,
    *,
    max_steps: int = MAX_STEPS,
    budget_s: float = BUDGET_S,
    notify: Notify = lambda _: None,
    on_rung: RungStarted = lambda _n, _r: None,
    on_done: RungDone = lambda _n, _s: None,
    cancel: threading.Event | None = None,
    book: ReplyBook | None = None,
) -> Ladder:
    """Climb from `base` until a config works or nothing is left to try."""
    cancel = cancel or threading.Event()
    steps: list[Step] = []
    deadline = time.monotonic() + budget_s
    while True:
        decision = plan(base, steps, max_steps)
        if isinstance(decision, Done):
            return Ladder(decision, tuple(steps))
        left = deadline - time.monotonic()
        if left < min(_MIN_RUNG_S, budget_s):
            return Ladder(
                Done("timeout", f"the ladder's budget of {budget_s:.0f} s is spent", *_rest(steps)),
                tuple(steps),
            )
        if cancel.is_set():
            return Ladder(Done("cancelled", "cancelled", *_rest(steps)), tuple(steps))
        on_rung(len(steps) + 1, decision)
        budgets = replace(config.budgets, startup_s=min(config.budgets.startup_s, left))
        result = run_playbook(decision.spec, replace(config, budgets=budgets), notify, cancel)
        if book is not None:  # replies beside earlier runs': graph vs eager, known-good
            result = settle(result, decision.spec, book)
        if triage is not None and result.first_error is not None:
            result.triage = result.triaged(triage)
        step = Step(decision.spec, decision.why, result)
        steps.append(step)
        on_done(len(steps), step)


def _rest(steps: list[Step]) -> tuple[Step | None, tuple[str, ...]]:
    ruled = tuple(s.result.verdict for s in steps if s.result.status != "passed")
    return best_step(steps), ruled
