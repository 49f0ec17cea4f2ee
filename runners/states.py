"""The two state machines of a runner job, in one place.

A job's *status* is what the coordinator and the bot see: queued until an agent leases it,
running while its playbook runs, then one verdict. A job's *phase* is where its playbook
is on the host (../shared/reference/vllm-runtime.md, section 8). Every change goes through
`advance`, which refuses a move the table does not list, so no path can, say, turn a
cancelled job back into a passed one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from runners.errors import InvalidTransition


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    BLOCKED = "blocked"  # the host was not fit to try (port taken, a leftover server)
    LOST = "lost"  # its agent stopped heartbeating: we do not know what happened

    @property
    def final(self) -> bool:
        """The thread has its answer: a verdict, or lost (a late verdict may still land)."""
        return self in FINAL


VERDICTS = (Status.PASSED, Status.FAILED, Status.TIMEOUT, Status.CANCELLED, Status.BLOCKED)
FINAL = frozenset({*VERDICTS, Status.LOST})

STATUS_MOVES: dict[Status, frozenset[Status]] = {
    # Queued too long with no agent to take it: timeout.
    Status.QUEUED: frozenset({Status.RUNNING, Status.CANCELLED, Status.TIMEOUT}),
    # Back to the queue: leased to an agent that never started it (it restarted).
    Status.RUNNING: frozenset({*VERDICTS, Status.LOST, Status.QUEUED}),
    # Its agent went quiet, then came back with the verdict it had kept on disk.
    Status.LOST: frozenset(VERDICTS),
    **{s: frozenset() for s in VERDICTS},
}


class Phase(StrEnum):
    QUEUED = "queued"
    PREFLIGHT = "preflight"
    STARTING = "starting"  # launched; the log tells the stage (loading, capturing graphs...)
    READY_CHECK = "ready"  # /health answered: now /v1/models
    SMOKE_TEXT = "text smoke"
    SMOKE_IMAGE = "image smoke"
    STOPPING = "stopping"
    CLEANUP = "cleanup"
    DONE = "done"


# Any phase may stop early (a failure, a cancel); stopping always goes through cleanup.
_EARLY_STOP = frozenset({Phase.STOPPING, Phase.DONE})
PHASE_MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.QUEUED: frozenset({Phase.PREFLIGHT, Phase.DONE}),
    # Back to the queue: its agent restarted before starting it (the coordinator's move).
    Phase.PREFLIGHT: frozenset({Phase.STARTING, Phase.DONE, Phase.QUEUED}),
    Phase.STARTING: frozenset({Phase.READY_CHECK}) | _EARLY_STOP,
    Phase.READY_CHECK: frozenset({Phase.SMOKE_TEXT}) | _EARLY_STOP,
    Phase.SMOKE_TEXT: frozenset({Phase.SMOKE_IMAGE, Phase.STOPPING}),
    Phase.SMOKE_IMAGE: frozenset({Phase.STOPPING}),
    Phase.STOPPING: frozenset({Phase.CLEANUP}),
    Phase.CLEANUP: frozenset({Phase.DONE}),
    Phase.DONE: frozenset(),
}

ORDER = list(Phase)


S = TypeVar("S", Status, Phase)


def moved(current: str, new: str) -> Phase:
    """A job's phase as an agent reports it: `new` when the table allows the move from
    `current`, else `current`. A late or repeated event moves nothing, and neither does a
    phase no playbook has (an agent's word is checked, not trusted); the event itself is
    still kept for the thread."""
    old = Phase(current)
    try:
        wanted = Phase(new)
    except ValueError:
        return old
    return wanted if wanted in PHASE_MOVES[old] else old


def advance(current: S, new: S) -> S:
    """`new`, if the table allows moving there from `current`; otherwise InvalidTransition."""
    moves: dict[Status, frozenset[Status]] | dict[Phase, frozenset[Phase]]
    moves = STATUS_MOVES if isinstance(current, Status) else PHASE_MOVES
    if new not in moves[current]:
        kind = type(current).__name__.lower()
        raise InvalidTransition(f"a job cannot go from {kind} {current!s} to {new!s}")
    return new
