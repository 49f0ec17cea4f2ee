"""Runner jobs in the shared SQLAlchemy database: agents and their hashed tokens, jobs,
their events and logs, and an audit of every dispatch. Each change of a job goes through
the state machine and a conditional UPDATE, so two agents never lease one job and two
coordinator replicas never expire one lease twice. The schema is Alembic's
(runners/store/migrations) with its own version table beside the bot's.

`JobStore` is the one object callers hold; it is made of parts over one `Database`, each
a concept of its own, and lends their methods under its name:

    AgentRegistry (agents)      agents, their tokens, the dispatch audit
    JobQueue (queueing)         submit, cancel
    AgentJobs (agent_jobs)      lease, heartbeat, events, verdict: the agent's side
    Expiry (expiry)             restarted agents, leases run out, jobs queued too long
    JobLogs (joblogs)           each job's server log and its one delivery
    JobQueries (joblist)        jobs and agents as readers look them up
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from runners.errors import RunnerError
from runners.run.logcut import DEFAULT_MAX_LOG_BYTES
from runners.store.agent_jobs import AgentJobs
from runners.store.agents import AgentRegistry
from runners.store.database import Database, connect, safe_url
from runners.store.expiry import Expiry
from runners.store.joblist import JobQueries
from runners.store.joblogs import JobLogs
from runners.store.queueing import JobQueue
from runners.store.tables import migrate


class JobStore:
    """Jobs: queued, leased, heartbeaten, finished, cancelled, lost; their agents and logs."""

    def __init__(
        self, engine: Engine, lease_s: float = 60.0, max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
    ) -> None:
        db = Database(engine)  # one writer lock for all the parts (SQLite)
        self.engine = engine
        self.lease_for = timedelta(seconds=lease_s)
        registry, queue = AgentRegistry(db), JobQueue(db)
        work, expiry = AgentJobs(db, self.lease_for), Expiry(db, self.lease_for)
        self._logs, queries = JobLogs(db, max_log_bytes), JobQueries(db)

        # Agents and the audit (administered by people).
        self.add_agent = registry.add_agent
        self.agent_for = registry.agent_for
        self.register = registry.register
        self.served = registry.served
        self.seen = registry.seen
        self.revoke = registry.revoke
        self.audit = registry.audit
        self.dispatches = registry.dispatches
        # Jobs in and out of the queue; the agent's side; the coordinator's clean-up.
        self.submit = queue.submit
        self.cancel = queue.cancel
        self.lease = work.lease
        self.heartbeat = work.heartbeat
        self.add_events = work.add_events
        self.finish = work.finish
        self.reconcile = expiry.reconcile
        self.extend_running = expiry.extend_running
        self.expire_queued = expiry.expire_queued
        self.expire_leases = expiry.expire_leases
        # Logs.
        self.put_log = self._logs.put_log
        self.log = self._logs.log
        self.undelivered_logs = self._logs.undelivered_logs
        self.claim_log_upload = self._logs.claim_log_upload
        self.log_posted = self._logs.log_posted
        self.log_given_up = self._logs.log_given_up
        # Reading.
        self.job = queries.job
        self.jobs = queries.jobs
        self.recent = queries.recent
        self.events = queries.events
        self.started_at = queries.started_at
        self.agents = queries.agents
        self.queue_refusal = queries.queue_refusal

    @property
    def max_log_bytes(self) -> int:
        """The most of a job's server log kept (ONCALL_MAX_LOG_UPLOAD_BYTES); agents are
        told it when they register."""
        return self._logs.max_log_bytes

    @max_log_bytes.setter
    def max_log_bytes(self, value: int) -> None:
        self._logs.max_log_bytes = value


def open_jobs(
    url: str, lease_s: float = 60.0, max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
) -> JobStore:
    """Connect and bring the runner tables up to date. `max_log_bytes`: the most of a
    job's server log kept (ONCALL_MAX_LOG_UPLOAD_BYTES)."""
    try:
        engine = connect(url)
        migrate(engine)
    except (SQLAlchemyError, OSError) as exc:
        raise RunnerError(f"cannot open the database {safe_url(url)}: {exc}") from exc
    return JobStore(engine, lease_s, max_log_bytes)
