"""The job state machines: every move in the tables is allowed, every other is refused."""

from __future__ import annotations

import itertools

import pytest

from runners import InvalidTransition, Phase, Status
from runners.states import PHASE_MOVES, STATUS_MOVES, VERDICTS, advance, moved


@pytest.mark.parametrize(
    ("table", "states"), [(STATUS_MOVES, list(Status)), (PHASE_MOVES, list(Phase))]
)
def test_every_move_is_allowed_or_refused_as_the_table_says(
    table: dict[Status, frozenset[Status]] | dict[Phase, frozenset[Phase]],
    states: list[Status] | list[Phase],
) -> None:
    assert set(table) == set(states), "every state has a row"
    for current, new in itertools.product(states, states):
        if new in table[current]:  # type: ignore[index, operator]
            assert advance(current, new) is new  # type: ignore[type-var]
        else:
            with pytest.raises(InvalidTransition, match=f"from .*{current} to {new}"):
                advance(current, new)  # type: ignore[type-var]


def test_verdicts_are_final_and_a_job_reaches_one_only_by_running() -> None:
    finals = [s for s in Status if s.final]
    assert set(finals) == {"passed", "failed", "timeout", "cancelled", "blocked", "lost"}
    for final in finals:
        assert STATUS_MOVES[final] <= set(VERDICTS)  # lost may still take its verdict
        with pytest.raises(InvalidTransition):
            advance(final, Status.RUNNING)
    for verdict in VERDICTS:
        assert not STATUS_MOVES[verdict]
    assert advance(Status.LOST, Status.PASSED) is Status.PASSED  # its agent came back
    with pytest.raises(InvalidTransition):
        advance(Status.QUEUED, Status.PASSED)  # no verdict without a run
    assert advance(Status.QUEUED, Status.CANCELLED) is Status.CANCELLED


def test_every_phase_can_reach_done_and_stopping_always_cleans_up() -> None:
    for start in Phase:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in PHASE_MOVES[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert Phase.DONE in seen, f"{start} cannot finish"
    assert PHASE_MOVES[Phase.STOPPING] == {Phase.CLEANUP}
    assert PHASE_MOVES[Phase.CLEANUP] == {Phase.DONE}


def test_a_reported_phase_moves_only_as_the_table_allows() -> None:
    assert moved("preflight", "starting") is Phase.STARTING
    assert moved("text smoke", "starting") is Phase.SMOKE_TEXT  # late: no move back
    assert moved("starting", "starting") is Phase.STARTING  # a repeated event
    assert moved("starting", "<!channel> rm -rf") is Phase.STARTING  # not a phase: no move
