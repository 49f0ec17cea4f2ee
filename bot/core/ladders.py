"""The autopilot's ladder messages in the bot's database: the one message each ladder
edits in place in its thread, keyed by the ladder's first job, and where the ladder stands
(climbing, waiting for an approval click after a rung, done). With the rungs themselves
(runner jobs, chained by parent), it is all a restarted bot needs to carry a ladder on.

Each change of state is a conditional update, so one replica (or one of two clicks) wins
it, and only a move the table below lists is made: a ladder that is done stays done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, Integer, String, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.store import Base
from runners import Database
from runners import now as _now


class LadderState(StrEnum):
    CLIMBING = "climbing"  # a rung is queued or running, or about to be
    WAITING = "waiting"  # for an approval click after a rung (ONCALL_AUTOPILOT_APPROVE=each)
    DONE = "done"  # ended: its summary is shown


LADDER_MOVES: dict[LadderState, frozenset[LadderState]] = {
    LadderState.CLIMBING: frozenset({LadderState.WAITING, LadderState.DONE}),
    # A click: run the next rung, or stop here.
    LadderState.WAITING: frozenset({LadderState.CLIMBING, LadderState.DONE}),
    LadderState.DONE: frozenset(),
}


def ladder_sources(new: LadderState) -> frozenset[LadderState]:
    """The states a ladder may move to `new` from."""
    return frozenset(s for s, moves in LADDER_MOVES.items() if new in moves)


class LadderRow(Base):
    """The message an autopilot ladder edits in place, keyed by the ladder's first job, and
    where the ladder stands: climbing, waiting for a click (after `waiting_after`), done."""

    __tablename__ = "bot_ladders"

    root_job_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str] = mapped_column(String(32), default="")  # "": being posted
    state: Mapped[str] = mapped_column(String(16), default=LadderState.CLIMBING.value)
    waiting_after: Mapped[int | None] = mapped_column(Integer)  # the rung whose next waits
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


@dataclass(frozen=True)
class LadderRecord:
    root_job_id: int
    channel_id: str
    thread_ts: str | None
    message_ts: str
    state: LadderState
    waiting_after: int | None


class LadderStore(Database):
    """The autopilot's ladder messages. Each change of state is a conditional update, so
    one replica (or one click of two) wins it."""

    def claim_ladder(self, root_job_id: int, channel_id: str, thread_ts: str | None) -> bool:
        """True for the one caller that posts this ladder's message."""
        row = LadderRow(root_job_id=root_job_id, channel_id=channel_id, thread_ts=thread_ts)
        try:
            with self._write() as s:
                s.add(row)
        except IntegrityError:
            return False
        return True

    def ladder(self, root_job_id: int) -> LadderRecord | None:
        with self._read() as s:
            row = s.get(LadderRow, root_job_id)
            if row is None:
                return None
            return LadderRecord(
                row.root_job_id, row.channel_id, row.thread_ts, row.message_ts,
                LadderState(row.state), row.waiting_after,
            )  # fmt: skip

    def set_ladder_message(self, root_job_id: int, message_ts: str) -> None:
        with self._write() as s:
            s.execute(
                update(LadderRow)
                .where(LadderRow.root_job_id == root_job_id)
                .values(message_ts=message_ts, updated_at=_now())
            )

    def move_ladder(
        self,
        root_job_id: int,
        state: LadderState,
        *,
        waiting_after: int | None = None,
        expect: LadderState | None = None,
        expect_after: int | None = None,
    ) -> bool:
        """Move the ladder to `state` from a state the table allows it from; with `expect`
        only from that state (and, with `expect_after`, waiting after that rung). False
        when another got there first, or the ladder is where it may not move from."""
        sources = ladder_sources(state)
        if expect is not None and expect not in sources:
            raise ValueError(f"a ladder cannot go from {expect} to {state}")
        change = update(LadderRow).where(
            LadderRow.root_job_id == root_job_id,
            LadderRow.state.in_(sorted(s.value for s in sources)),
        )
        if expect is not None:
            change = change.where(LadderRow.state == expect.value)
        if expect_after is not None:
            change = change.where(LadderRow.waiting_after == expect_after)
        with self._write() as s:
            done = s.execute(
                change.values(state=state.value, waiting_after=waiting_after, updated_at=_now())
            )
        return getattr(done, "rowcount", 0) == 1
