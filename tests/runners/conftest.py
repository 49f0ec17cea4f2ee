"""Runner fixtures: the fake `vllm` on loopback, short time budgets, a host work folder."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runners import Budgets, RunnerConfig
from runners.store.jobstore import JobStore, open_jobs
from tests.databases import KINDS, database

FAKE_VLLM = Path(__file__).resolve().parents[1] / "fakes" / "fake_vllm.py"
FAKE_CMD = (sys.executable, str(FAKE_VLLM))
# The server gets an allow-listed environment: the fake's own knobs pass by name.
PASS_ENV = ("FAKE_VLLM_*",)

# Real budgets are minutes; the fake at a tenth of its speed needs seconds.
FAST = Budgets(
    startup_s=20.0,
    stall_s=3.0,
    stall_quiet_stage_s=3.0,
    fatal_grace_s=3.0,
    request_s=10.0,
    settle_s=0.5,
    stop_grace_s=3.0,
    cleanup_s=5.0,
    poll_s=0.05,
    health_every_s=0.2,
)


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_VLLM_TIME_SCALE", "0.1")
    for name in ("FAKE_VLLM_SCENARIO", "FAKE_VLLM_IGNORE_SIGINT", "FAKE_VLLM_IGNORE_SIGTERM"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def runner_config(tmp_path: Path, fake_env: None) -> RunnerConfig:
    return RunnerConfig(
        vllm_cmd=FAKE_CMD, port=0, work_dir=tmp_path / "runner", budgets=FAST, pass_env=PASS_ENV
    )


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    """The coordinator's job store, on SQLite and (when a URL is given) PostgreSQL."""
    with database(request.param, tmp_path) as url:
        opened = open_jobs(url, lease_s=60)
        try:
            yield opened
        finally:
            opened.engine.dispose()
