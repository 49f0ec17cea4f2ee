"""The ladder's row in the bot's database, on SQLite and PostgreSQL: posted by one caller,
its state moved by one click of two (the approval buttons), read back after a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.ladders import LADDER_MOVES, LadderState, LadderStore
from bot.core.store import open_store
from tests.databases import KINDS, database


@pytest.fixture(params=KINDS)
def ladders(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LadderStore]:
    with database(request.param, tmp_path) as url:
        opened = open_store(url)  # brings the bot's schema, bot_ladders with it, up to date
        try:
            yield LadderStore(opened.engine)
        finally:
            opened.engine.dispose()


def test_one_caller_posts_the_ladder_message(ladders: LadderStore) -> None:
    assert ladders.claim_ladder(7, "C0TEAM", "1700000000.000100")
    assert not ladders.claim_ladder(7, "C0TEAM", "1700000000.000100"), "claimed already"
    assert ladders.ladder(7) is not None and ladders.ladder(7).message_ts == ""  # type: ignore[union-attr]
    ladders.set_ladder_message(7, "1700000000.000200")
    again = ladders.ladder(7)
    assert again is not None and again.message_ts == "1700000000.000200"
    assert (again.state, again.thread_ts) == ("climbing", "1700000000.000100")
    assert ladders.ladder(8) is None


def test_an_approval_is_answered_once(ladders: LadderStore) -> None:
    ladders.claim_ladder(7, "C0TEAM", None)
    climbing, waiting, done = LadderState.CLIMBING, LadderState.WAITING, LadderState.DONE
    assert ladders.move_ladder(7, waiting, waiting_after=3)
    assert not ladders.move_ladder(7, climbing, expect=waiting, expect_after=2), "stale"
    assert ladders.move_ladder(7, climbing, expect=waiting, expect_after=3)
    assert not ladders.move_ladder(7, done, expect=waiting, expect_after=3), "a second click"
    state = ladders.ladder(7)
    assert state is not None and (state.state, state.waiting_after) == ("climbing", None)


def test_a_ladder_moves_only_as_the_table_allows(ladders: LadderStore) -> None:
    """Every move from every state: made when the table lists it, refused (False) when
    not, so a ladder that is done stays done whoever moves it later."""
    for n, (start, new) in enumerate(
        (s, t) for s in LadderState for t in LadderState if s is not LadderState.DONE
    ):
        ladders.claim_ladder(n, "C0TEAM", None)  # climbing
        if start is LadderState.WAITING:
            assert ladders.move_ladder(n, LadderState.WAITING, waiting_after=1)
        assert ladders.move_ladder(n, new) is (new in LADDER_MOVES[start]), (start, new)
        now = ladders.ladder(n)
        assert now is not None and now.state is (new if new in LADDER_MOVES[start] else start)
    ladders.claim_ladder(99, "C0TEAM", None)
    assert ladders.move_ladder(99, LadderState.DONE)
    for new in LadderState:
        assert not ladders.move_ladder(99, new), f"done, then {new}"
    with pytest.raises(ValueError, match="from done to climbing"):
        ladders.move_ladder(99, LadderState.CLIMBING, expect=LadderState.DONE)
