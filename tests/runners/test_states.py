"""The job state machines: every move in the tables is allowed, every other is refused."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest

import runners
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


# Every write of a job's status or phase in runners/ goes through the table: an attribute
# set (`row.status = ...`, one element of a tuple assignment too) or a column in an UPDATE
# (`.values(status=...)`) takes `advance(...)` or `moved(...)` (their `.value` too). A run's
# result (`result.status`, `run.result.phase`) is an outcome being written, not a move, and
# an object starts somewhere in its `__init__`.
RUNNERS = Path(runners.__file__).parent
STATE_FIELDS = {"status", "phase"}
THROUGH_THE_TABLE = {"advance", "moved"}


def _through_the_table(value: ast.expr) -> bool:
    if isinstance(value, ast.Attribute) and value.attr == "value":
        value = value.value
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in THROUGH_THE_TABLE
    )


def _a_result(target: ast.Attribute) -> bool:
    base = target.value
    return (isinstance(base, ast.Name) and base.id == "result") or (
        isinstance(base, ast.Attribute) and base.attr == "result"
    )


def _an_update(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute) and call.func.attr == "values"


def raw_state_writes(source: str) -> list[str]:
    """The writes of a status or phase in `source` that skip the state table."""
    found: list[str] = []

    def check(target: ast.expr, value: ast.expr | None, where: ast.AST) -> None:
        if not (isinstance(target, ast.Attribute) and target.attr in STATE_FIELDS):
            return
        if _a_result(target) or (value is not None and _through_the_table(value)):
            return
        found.append(f"line {where.lineno}: {ast.unparse(where)[:80]}")  # type: ignore[attr-defined]

    def walk(node: ast.AST, in_init: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_init = node.name == "__init__"
        if isinstance(node, ast.Assign) and not in_init:
            for target in node.targets:
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    for t, v in zip(target.elts, node.value.elts, strict=False):
                        check(t, v, node)
                elif isinstance(target, ast.Tuple):
                    for t in target.elts:
                        check(t, None, node)
                else:
                    check(target, node.value, node)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign) and not in_init:
            check(node.target, None if isinstance(node, ast.AugAssign) else node.value, node)
        elif isinstance(node, ast.Call) and _an_update(node):  # an UPDATE's new columns
            for kw in node.keywords:
                if kw.arg in STATE_FIELDS and not _through_the_table(kw.value):
                    found.append(f"line {node.lineno}: .values({kw.arg}=...)")
                if kw.arg is None:  # .values(**columns): cannot be read here
                    found.append(f"line {node.lineno}: .values(**...)")
        for child in ast.iter_child_nodes(node):
            walk(child, in_init)

    walk(ast.parse(source), False)
    return found


def test_every_status_and_phase_write_in_runners_goes_through_the_table() -> None:
    raw = {}
    for path in sorted(RUNNERS.rglob("*.py")):
        if "migrations" in path.relative_to(RUNNERS).parts:
            continue  # a migration moves stored rows as they were, not jobs
        source = path.read_text()
        if found := raw_state_writes(source):
            raw[str(path.relative_to(RUNNERS))] = found
        assert not re.search(r"(?i)\bSET\s+(status|phase)\b", source), path  # raw SQL
    assert not raw, f"status or phase written past runners.states.advance/moved: {raw}"


@pytest.mark.parametrize(
    "write",
    [
        'row.status = "passed"',
        "row.phase = Phase.DONE.value",
        "row.status, row.result = Status.PASSED.value, text",
        "row.phase += 'x'",
        'update(JobRow).values(status="lost")',
        "update(JobRow).values(**columns)",
        "def f(row):\n    row.phase = new",
    ],
)
def test_the_check_finds_a_raw_write(write: str) -> None:
    assert raw_state_writes(write), write


@pytest.mark.parametrize(
    "write",
    [
        "row.status = advance(Status(row.status), Status.PASSED).value",
        "row.phase = moved(row.phase, e.phase).value",
        "row.status, row.result = advance(current, new).value, text",
        "update(JobRow).values(status=advance(Status.RUNNING, Status.LOST).value, version=2)",
        "result.status = Status.FAILED",  # a run's outcome, not a job's move
        "run.result.phase = phase",
        "class Run:\n    def __init__(self):\n        self.phase = Phase.QUEUED",
    ],
)
def test_the_check_lets_a_move_through_the_table_pass(write: str) -> None:
    assert not raw_state_writes(write), write
