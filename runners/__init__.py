"""Runner jobs on Ascend hosts: job specs and their safety rules, playbooks that launch
and judge `vllm serve`, the job store, the coordinator API and the agent."""

from __future__ import annotations

from runners.errors import (
    AuthError,
    CoordinatorError,
    InvalidTransition,
    LaunchError,
    RunnerError,
    SpecError,
)
from runners.fallbacks import FALLBACKS, Fallback
from runners.playbook import Budgets, RunnerConfig, run_playbook
from runners.redact import redact
from runners.result import Event, FirstError, NextStep, RunResult
from runners.spec import PLAYBOOKS, JobSpec, parse_command, usage
from runners.states import Phase, Status

__all__ = [
    "FALLBACKS",
    "PLAYBOOKS",
    "AuthError",
    "Budgets",
    "CoordinatorError",
    "Event",
    "Fallback",
    "FirstError",
    "InvalidTransition",
    "JobSpec",
    "LaunchError",
    "NextStep",
    "Phase",
    "RunResult",
    "RunnerConfig",
    "RunnerError",
    "SpecError",
    "Status",
    "parse_command",
    "redact",
    "run_playbook",
    "usage",
]
