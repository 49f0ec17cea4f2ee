"""One run's settings and state: the host's runner config, the time budgets, and the
phase, timings and notes of the run in progress (shared by the playbook's parts)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runners.run.result import Event, EventKind, RunResult
from runners.spec.job import JobSpec
from runners.states import Phase, Status, advance


@dataclass(frozen=True)
class Budgets:
    startup_s: float = 1800.0  # vllm-ascend CI gives big models 30 min
    stall_s: float = 900.0  # no new log bytes for this long: stuck
    stall_quiet_stage_s: float = 1200.0  # loading weights and capturing graphs print little
    fatal_grace_s: float = 60.0  # after a fatal line, let the whole traceback land
    request_s: float = 300.0  # the first request may compile or replay graphs lazily
    settle_s: float = 5.0  # after a smoke reply: no fatal line, /health still 200
    stop_grace_s: float = 30.0  # per signal: SIGINT, then SIGTERM, then SIGKILL
    cleanup_s: float = 120.0
    poll_s: float = 0.1  # log and process checks
    health_every_s: float = 0.5


@dataclass(frozen=True)
class RunnerConfig:
    vllm_cmd: tuple[str, ...] = ("vllm",)
    host: str = "127.0.0.1"
    port: int = 8000  # 0: a free port each run
    work_dir: Path = field(default_factory=lambda: Path.home() / ".local/state/ascend-oncall")
    model_roots: tuple[str, ...] = ()
    remote_code: bool = False  # jobs may pass --trust-remote-code
    extra_env: tuple[tuple[str, str], ...] = ()  # this slot's own (HCCL_IF_BASE_PORT)
    # More of the host's environment for the server: NAME or PREFIX* (never a secret).
    pass_env: tuple[str, ...] = ()
    budgets: Budgets = field(default_factory=Budgets)

    @property
    def records(self) -> Path:
        return self.work_dir / "servers"

    @property
    def logs(self) -> Path:
        return self.work_dir / "logs"


Notify = Callable[[Event], None]


class Run:
    """The state of one run; `run_playbook` drives it."""

    def __init__(self, spec: JobSpec, config: RunnerConfig, notify: Notify) -> None:
        self.spec, self.config, self.notify = spec, config, notify
        self.phase = Phase.QUEUED
        self.phase_t = self.launched = time.monotonic()
        self.result = RunResult(
            playbook=spec.playbook, status=Status.FAILED, phase=Phase.QUEUED, spec=spec
        )

    def enter(self, phase: Phase, message: str = "") -> None:
        now = time.monotonic()
        self.result.timings[str(self.phase)] = round(
            self.result.timings.get(str(self.phase), 0.0) + now - self.phase_t, 3
        )
        self.phase, self.phase_t = advance(self.phase, phase), now
        if phase not in (Phase.STOPPING, Phase.CLEANUP, Phase.DONE):
            self.result.phase = phase
        self.notify(Event(kind=EventKind.PHASE, phase=phase, message=message))

    def stage(self, stage: str) -> None:
        self.result.stage = stage
        self.notify(Event(kind=EventKind.STAGE, phase=self.phase, stage=stage))

    def progress(self, stage: str, done: int, total: int, what: str = "") -> None:
        message = f"{done}/{total}" + (f" ({what})" if what else "")
        self.notify(Event(kind=EventKind.PROGRESS, phase=self.phase, stage=stage, message=message))

    def note(self, message: str) -> None:
        self.result.notes.append(message)
        self.notify(Event(kind=EventKind.NOTE, phase=self.phase, message=message))
