"""Prometheus metrics of the runner jobs, served at the coordinator's /metrics (and at
`serve`'s, beside the bot's own).

The gauges are read from the database at each scrape, in two small queries, so every
coordinator replica on one database reports the same figures. The run-time histogram is
observed in the process that records a job's verdict (`JobStore.finish`). Nothing here
names an agent, a host or a token: the labels are statuses, playbooks and job labels.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from runners.states import Status
from runners.store.agents import aware
from runners.store.database import now
from runners.store.records import Job
from runners.store.tables import AgentRow, JobRow

if TYPE_CHECKING:  # the store records its verdicts here: imported for types alone
    from runners.store.jobstore import JobStore

log = logging.getLogger("ascend_oncall.metrics")

# An agent is online when heard from within two leases: what `/runners` shows as online.
ONLINE_LEASES = 2

# A job's run time, from its lease to its verdict: a smoke test takes minutes.
JOB_SECONDS = Histogram(
    "oncall_runner_job_seconds",
    "Run time of finished runner jobs, from lease to verdict, by playbook and verdict",
    ["playbook", "status"],
    buckets=(10, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600),
    registry=None,  # in each coordinator's registry (job_registry), not the global one
)


def job_finished(job: Job, leased_at: datetime | None) -> None:
    """Observe the run time of a job that has just taken its verdict. A job never leased
    (cancelled or timed out in the queue) did not run: it is not observed."""
    if leased_at is None or not job.status.final:
        return
    ran = (job.updated_at - aware(leased_at)).total_seconds()
    JOB_SECONDS.labels(job.spec.playbook, job.status.value).observe(max(ran, 0.0))


class JobFigures(Collector):
    """Queue depth, jobs by status and agents online, counted by the database per scrape."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def describe(self) -> Iterator[Metric]:
        # Names only: registering asks no query of the database.
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        try:
            by_status, online = self._read()
        except SQLAlchemyError as exc:  # the database is away: the rest is still served
            log.warning("runner metrics: the database did not answer: %s", str(exc)[:200])
            return
        queue, jobs, agents, by_label = self._families()
        queue.add_metric([], by_status.get(Status.QUEUED.value, 0))
        for status in Status:
            jobs.add_metric([status.value], by_status.get(status.value, 0))
        agents.add_metric([], len(online))
        labels = Counter(label for row in online for label in set(json.loads(row)))
        for label, count in sorted(labels.items()):
            by_label.add_metric([label], count)
        yield from (queue, jobs, agents, by_label)

    def _read(self) -> tuple[dict[str, int], list[str]]:
        since = now() - ONLINE_LEASES * self.store.lease_for
        with self.store.engine.connect() as c:
            counts = c.execute(select(JobRow.status, func.count()).group_by(JobRow.status))
            by_status = {str(status): int(n) for status, n in counts}
            # One short row per live agent (the admin creates each): its labels, counted here.
            online = c.scalars(
                select(AgentRow.labels).where(
                    AgentRow.disabled.is_(False), AgentRow.last_seen >= since
                )
            ).all()
        return by_status, list(online)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "oncall_runner_queue_depth", "Runner jobs queued that no agent has leased yet"
            ),
            GaugeMetricFamily(
                "oncall_runner_jobs", "Runner jobs in the database, by status", labels=["status"]
            ),
            GaugeMetricFamily(
                "oncall_runner_agents_online",
                f"Agents heard from within {ONLINE_LEASES} leases (not revoked)",
            ),
            GaugeMetricFamily(
                "oncall_runner_agents_online_by_label",
                "Agents online that claimed each label",
                labels=["label"],
            ),
        )


def job_registry(store: JobStore, process: bool = False) -> CollectorRegistry:
    """A registry of the runner metrics over `store`: one per app, so building the app
    twice in a process registers nothing twice. With `process`, also this process's own
    (CPU, memory, GC): the coordinator alone; `serve` has them in the global registry."""
    registry = CollectorRegistry()
    registry.register(JOB_SECONDS)
    registry.register(JobFigures(store))
    if process:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return registry
