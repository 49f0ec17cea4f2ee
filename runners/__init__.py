"""Runner jobs on Ascend hosts: job specs and their safety rules, playbooks that launch
and judge `vllm serve`, the job store, the coordinator API and the agent.

This is the package's face: the bot imports runner names from here only. The agent's
names cost nothing to import; the coordinator's (the job store, its database, the HTTP
API and its metrics: SQLAlchemy, FastAPI, prometheus-client, the `bot` extra) are loaded
on first use, so an agent on an Ascend host never imports them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from runners.agent.client import AgentConfig
from runners.agent.loop import RunnerAgent
from runners.autopilot.cheap_rungs import dummy as dummy_weights
from runners.autopilot.ladder import Done, Rung, Step, config_key, plan
from runners.autopilot.ladder import command as ladder_command
from runners.autopilot.length_probe import longest as longest_length
from runners.autopilot.local import Ladder, run_ladder
from runners.doctor import DoctorError, DoctorReport, Finding, diagnose
from runners.errors import (
    AuthError,
    CoordinatorError,
    InvalidTransition,
    LaunchError,
    RunnerError,
    SpecError,
)
from runners.redact import redact, redact_data
from runners.replies.file_book import FileBook
from runners.replies.golden import settle as settle_replies
from runners.run.next_steps import next_spec, next_steps, next_value
from runners.run.playbook import run_playbook
from runners.run.result import (
    Event,
    EventKind,
    FirstError,
    NextStep,
    RunbookMatch,
    RunResult,
    RunTriage,
)
from runners.run.run_state import Budgets, RunnerConfig
from runners.spec.command import parse_command, usage
from runners.spec.fallbacks import FALLBACKS, Fallback
from runners.spec.job import PLAYBOOKS, JobSpec, Playbook, check_model
from runners.spec.job import check as check_spec
from runners.states import Phase, Status

if TYPE_CHECKING:
    from runners.coordinator import coordinator_app, reap_leases, router
    from runners.store.agents import Agent
    from runners.store.database import Database, connect, migrate, now, run_migrations, safe_url
    from runners.store.joblist import job_view
    from runners.store.joblogs import JobLog
    from runners.store.jobstore import JobStore, open_jobs
    from runners.store.metrics import job_registry
    from runners.store.records import Job

# The coordinator's side, imported when first asked for.
_LAZY = {
    "Agent": "runners.store.agents",
    "Database": "runners.store.database",
    "Job": "runners.store.records",
    "JobLog": "runners.store.joblogs",
    "JobStore": "runners.store.jobstore",
    "connect": "runners.store.database",
    "coordinator_app": "runners.coordinator",
    "job_registry": "runners.store.metrics",
    "job_view": "runners.store.joblist",
    "migrate": "runners.store.database",
    "now": "runners.store.database",
    "open_jobs": "runners.store.jobstore",
    "reap_leases": "runners.coordinator",
    "router": "runners.coordinator",
    "run_migrations": "runners.store.database",
    "safe_url": "runners.store.database",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'runners' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "FALLBACKS",
    "PLAYBOOKS",
    "Agent",
    "AgentConfig",
    "AuthError",
    "Budgets",
    "CoordinatorError",
    "Database",
    "DoctorError",
    "DoctorReport",
    "Done",
    "Event",
    "EventKind",
    "Fallback",
    "FileBook",
    "Finding",
    "FirstError",
    "InvalidTransition",
    "Job",
    "JobLog",
    "JobSpec",
    "JobStore",
    "Ladder",
    "LaunchError",
    "NextStep",
    "Phase",
    "Playbook",
    "RunResult",
    "RunTriage",
    "RunbookMatch",
    "Rung",
    "RunnerAgent",
    "RunnerConfig",
    "RunnerError",
    "SpecError",
    "Status",
    "Step",
    "check_model",
    "check_spec",
    "config_key",
    "connect",
    "coordinator_app",
    "diagnose",
    "dummy_weights",
    "job_registry",
    "job_view",
    "ladder_command",
    "longest_length",
    "migrate",
    "next_spec",
    "next_steps",
    "next_value",
    "now",
    "open_jobs",
    "parse_command",
    "plan",
    "reap_leases",
    "redact",
    "redact_data",
    "router",
    "run_ladder",
    "run_migrations",
    "run_playbook",
    "safe_url",
    "settle_replies",
    "usage",
]
