"""The coordinator's reply sets (`runners.replies.golden.ReplyBook`) in the runners' database: one
row per set, the known-good set of each checkpoint and the latest set of each mode and
config, each replacing the one before in the same transaction. Two replicas filing at the
same moment may both insert; lookups take the newest, so that costs a row, not a wrong
answer. And the one place a result meets them: `finish`, before the verdict is stored.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import DateTime, Index, Integer, String, Text, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from runners.errors import RepliesError
from runners.replies.golden import Mode, ReplySet, settle
from runners.run.result import RunResult
from runners.states import VERDICTS
from runners.store.agents import Agent
from runners.store.database import Database
from runners.store.jobstore import JobStore
from runners.store.records import Job
from runners.store.tables import Base

log = logging.getLogger(__name__)
GOLDEN, LATEST = "golden", "latest"


class ReplyRow(Base):
    __tablename__ = "runner_replies"
    __table_args__ = (Index("ix_runner_replies_key", "model", "revision", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    revision: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(8))  # "golden" | "latest"
    mode: Mapped[str] = mapped_column(String(8))  # "graph" | "eager"
    config_key: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[int | None] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[str] = mapped_column(Text)  # the ReplySet as JSON, bounded by `golden`


class ReplyStore(Database):
    def _newest(self, *where: ColumnElement[bool]) -> ReplySet | None:
        try:
            with self._read() as s:
                data = s.scalar(select(ReplyRow.data).where(*where).order_by(ReplyRow.id.desc()))
            return ReplySet.model_validate_json(data) if data else None
        except SQLAlchemyError as exc:
            raise RepliesError(f"cannot read the stored replies: {exc}") from exc
        except ValidationError as exc:  # written by another version: compare with nothing
            raise RepliesError(f"stored replies of another shape: {str(exc)[:200]}") from exc

    def golden(self, model: str, revision: str) -> ReplySet | None:
        return self._newest(
            ReplyRow.model == model, ReplyRow.revision == revision, ReplyRow.kind == GOLDEN
        )

    def latest(self, model: str, revision: str, mode: Mode, config_key: str) -> ReplySet | None:
        return self._newest(
            ReplyRow.model == model,
            ReplyRow.revision == revision,
            ReplyRow.kind == LATEST,
            ReplyRow.mode == mode,
            ReplyRow.config_key == config_key,
        )

    def keep(self, replies: ReplySet, golden: bool) -> None:
        same = (ReplyRow.model == replies.model, ReplyRow.revision == replies.revision)
        config = (ReplyRow.mode == replies.mode, ReplyRow.config_key == replies.config_key)
        kinds: list[tuple[str, tuple[ColumnElement[bool], ...]]] = [(LATEST, config)]
        if golden:
            kinds.append((GOLDEN, ()))
        try:
            with self._write() as s:
                for kind, where in kinds:
                    s.execute(delete(ReplyRow).where(*same, ReplyRow.kind == kind, *where))
                    s.add(
                        ReplyRow(
                            model=replies.model,
                            revision=replies.revision,
                            kind=kind,
                            mode=replies.mode,
                            config_key=replies.config_key,
                            job_id=replies.job_id,
                            recorded_at=replies.recorded_at,
                            data=replies.model_dump_json(),
                        )
                    )
        except SQLAlchemyError as exc:
            raise RepliesError(f"cannot store the replies: {exc}") from exc


def finish(
    jobs: JobStore, replies: ReplyStore, agent: Agent, job_id: int, result: RunResult
) -> Job:
    """`JobStore.finish`, with the replies first compared with the known-good and the
    other mode's and kept (`golden.settle`), by the job as dispatched (never the agent's
    copy of its spec). A repeated delivery of a recorded verdict is only `finish`'s."""
    job = jobs.job(job_id)
    if job is not None and job.agent == agent.name and job.status not in VERDICTS:
        result = settle(result, job.spec, replies, job_id)
    return jobs.finish(agent, job_id, result)
