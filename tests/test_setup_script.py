"""scripts/setup: torch from PyTorch's CPU index first, the default index when that one does
not answer, then the project; a few lines of its own, pip's output only when a step fails.

The setup runs here against a stand-in for `.venv/bin/python` that records what pip was
asked and plays an unreachable CPU index: the real install takes minutes and a network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"

# Says what it was asked, talks as much as pip does, and fails where told to.
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$PIP_CALLS"
for i in $(seq 40); do echo "pip noise $i"; echo "WARNING: pip warning $i" >&2; done
case "$*" in
  *--index-url*) [ -n "${CPU_INDEX_DOWN:-}" ] && { echo "ERROR: index unreachable" >&2; exit 1; } ;;
  *" -e "*) [ -n "${PROJECT_FAILS:-}" ] && { echo "ERROR: no matching distribution" >&2; exit 1; } ;;
esac
exit 0
"""


def _checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "setup", repo / "scripts" / "setup")
    shutil.copy2(ROOT / "pyproject.toml", repo / "pyproject.toml")
    python = repo / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return repo


def _setup(repo: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    calls = repo / "pip-calls"
    calls.touch()
    done = subprocess.run(
        [str(repo / "scripts" / "setup")],
        env={**os.environ, "PIP_CALLS": str(calls), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, calls.read_text().splitlines()


def test_torch_comes_from_the_cpu_index_first_then_the_project(tmp_path: Path) -> None:
    repo = _checkout(tmp_path)
    done, calls = _setup(repo)
    assert done.returncode == 0, done.stderr
    torch, project = calls[1], calls[2]
    assert "torch==2.13.0" in torch and f"--index-url {CPU_INDEX}" in torch
    assert "--timeout 10 --retries 0" in torch  # an unreachable index costs seconds
    assert "-e .[bot,dev]" in project and len(calls) == 3
    assert all("--quiet" in c and "--disable-pip-version-check" in c for c in calls)
    # A few lines of its own, with progress; none of pip's 80 lines per call.
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) <= 6
    assert "noise" not in done.stderr and "WARNING" not in done.stderr
    assert "2/3" in done.stderr and "3/3" in done.stderr
    assert "pip noise 40" in (repo / ".venv" / "setup.log").read_text()
    again, calls_again = _setup(repo)
    assert again.returncode == 0 and calls_again == calls  # done once: nothing more to ask


def test_an_unreachable_cpu_index_falls_back_to_the_default_index(tmp_path: Path) -> None:
    done, calls = _setup(_checkout(tmp_path), CPU_INDEX_DOWN="1")
    assert done.returncode == 0, done.stderr
    first, fallback = calls[1], calls[2]
    assert "--index-url" in first and "torch==2.13.0" in fallback and "--index-url" not in fallback
    assert f"{CPU_INDEX} did not answer" in done.stderr and "CUDA build" in done.stderr


def test_a_failing_step_shows_pips_output(tmp_path: Path) -> None:
    repo = _checkout(tmp_path)
    done, _ = _setup(repo, PROJECT_FAILS="1")
    assert done.returncode == 1
    assert "installing the project failed" in done.stderr
    assert "ERROR: no matching distribution" in done.stderr and ".venv/setup.log" in done.stderr
    assert not list((repo / ".venv").glob(".installed-*"))  # the next run tries again
