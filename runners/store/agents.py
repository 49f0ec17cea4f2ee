"""Agents and their tokens, and the audit of dispatches: the part of the runners' database
people administer. A token is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runners.errors import AuthError, RunnerError, SpecError
from runners.spec.job import check_labels
from runners.store.database import Database, now
from runners.store.tables import AgentRow, DispatchRow

TOKEN_PREFIX = "oncall_"


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite drops the zone


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Agent:
    id: int
    name: str
    labels: tuple[str, ...]
    hostname: str | None
    version: str | None
    slots: int
    last_seen: datetime | None
    disabled: bool
    allowed: tuple[str, ...] = ()  # the labels it may claim besides its name


def agent_record(row: AgentRow) -> Agent:
    return Agent(
        row.id,
        row.name,
        tuple(json.loads(row.labels)),
        row.hostname,
        row.version,
        row.slots,
        aware(row.last_seen) if row.last_seen else None,
        row.disabled,
        tuple(json.loads(row.allowed_labels or "[]")),
    )


def plain_words(words: Iterable[str], refuse: type[RunnerError]) -> None:
    """Names and labels pick hosts and are shown to people: plain words only."""
    try:
        check_labels(words)
    except SpecError as exc:
        raise refuse(
            f"{exc}: names and labels are letters, digits, `.`, `_` and `-` "
            "(starting with a letter or digit, at most 63)"
        ) from exc


def _clash(s: Session, name: str, labels: Collection[str], new: bool) -> str | None:
    """Why `name` may not have `labels` (another agent's name among them) or, `new`, may
    not be a name at all (another agent has it as a label): a job `on <host>` goes to
    that host alone."""
    for other in s.scalars(select(AgentRow).where(AgentRow.name != name)):
        if other.name in labels:
            return f"{other.name} is the name of an agent: no other agent may have it as a label"
        theirs = {*json.loads(other.labels), *json.loads(other.allowed_labels or "[]")}
        if new and name in theirs:
            return f"{name} is a label of {other.name}: pick another name"
    return None


class AgentRegistry:
    """Agents and the dispatch audit, over the job store's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # Agents and their tokens.

    def add_agent(self, name: str, labels: Sequence[str] | None = None) -> str:
        """A new agent and its token, shown this once: only its hash is kept. It may claim
        `labels` and its own name, nothing else (a stolen token cannot take other hosts'
        jobs)."""
        given = sorted(set(labels or ()))
        plain_words([name, *given], RunnerError)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        try:
            with self._db._write() as s:
                if why := _clash(s, name, given, new=True):
                    raise RunnerError(why)
                allowed = json.dumps(given)
                s.add(AgentRow(name=name, token_hash=hash_token(token), allowed_labels=allowed))
        except IntegrityError as exc:
            raise RunnerError(f"an agent named {name!r} exists; pick another name") from exc
        return token

    def agent_for(self, token: str) -> Agent:
        with self._db._read() as s:
            row = s.scalar(select(AgentRow).where(AgentRow.token_hash == hash_token(token)))
        if row is None or row.disabled:
            raise AuthError("unknown or revoked agent token")
        return agent_record(row)

    def register(
        self, agent: Agent, labels: Sequence[str], hostname: str, version: str, slots: int
    ) -> Agent:
        plain_words(labels, AuthError)
        with self._db._write() as s:
            row = s.get(AgentRow, agent.id)
            assert row is not None
            given = json.loads(row.allowed_labels or "[]")
            extra = set(labels) - {*given, row.name}
            if extra:
                raise AuthError(
                    f"{agent.name} may not claim the labels {', '.join(sorted(extra))}: its "
                    f"token allows {', '.join([row.name, *given])} (its name and the labels "
                    "given at `coordinator add-agent`), no others"
                )
            if why := _clash(s, row.name, set(labels), new=False):
                raise AuthError(why)
            row.labels, row.hostname, row.version = (
                json.dumps(sorted(set(labels))),
                hostname,
                version,
            )
            row.slots, row.last_seen = max(1, slots), now()
            s.flush()
            return agent_record(row)

    def served(self, labels: Sequence[str]) -> bool:
        """Some agent has all these labels, or was given them (it may be offline just now)."""
        with self._db._read() as s:
            rows = s.scalars(select(AgentRow).where(AgentRow.disabled.is_(False))).all()
        for row in rows:
            given = json.loads(row.allowed_labels) if row.allowed_labels else []
            if set(labels) <= {*json.loads(row.labels), *given, row.name}:
                return True
        return False

    def seen(self, agent: Agent) -> None:
        """The agent is alive (it asked for work): /runners shows it online."""
        with self._db._write() as s:
            s.execute(update(AgentRow).where(AgentRow.id == agent.id).values(last_seen=now()))

    def revoke(self, name: str) -> bool:
        with self._db._write() as s:
            done = s.execute(update(AgentRow).where(AgentRow.name == name).values(disabled=True))
        return bool(getattr(done, "rowcount", 0))

    def audit(
        self,
        *,
        source: str,
        command: str,
        allowed: bool,
        reason: str = "",
        user_id: str | None = None,
        origin: str | None = None,
        job_id: int | None = None,
    ) -> None:
        """Record one attempt to dispatch, allowed or not; `origin`: where it was asked
        (a chat's place, as its front end names it)."""
        with self._db._write() as s:
            s.add(
                DispatchRow(
                    source=source,
                    command=command[:2000],
                    allowed=allowed,
                    reason=reason[:500],
                    user_id=user_id,
                    origin=origin,
                    job_id=job_id,
                )
            )

    def dispatches(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._db._read() as s:
            rows = s.scalars(select(DispatchRow).order_by(DispatchRow.id.desc()).limit(limit)).all()
            return [
                {
                    "at": aware(r.at).isoformat(),
                    "user": r.user_id,
                    "origin": r.origin,
                    "source": r.source,
                    "command": r.command,
                    "allowed": r.allowed,
                    "reason": r.reason,
                    "job": r.job_id,
                }
                for r in rows
            ]
