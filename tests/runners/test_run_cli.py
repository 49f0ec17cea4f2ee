"""`ascend-oncall run ... --json`: one playbook on this host, per the design's run contract."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.runners.conftest import FAKE_CMD

EXE = str(Path(sys.executable).with_name("ascend-oncall"))


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FAKE_VLLM_TIME_SCALE": "0.1",
        "ONCALL_RUNNER_PASS_ENV": "FAKE_VLLM_*",  # the fake's knobs reach the server
        "ONCALL_RUNNER_DIR": str(tmp_path / "runner"),
        "ONCALL_SETTLE_S": "0.3",
    }
    cmd = [EXE, "run", args[0], "--vllm-cmd", " ".join(FAKE_CMD), "--port", "0", *args[1:]]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_run_json_has_the_design_fields_and_the_runbook_match(tmp_path: Path) -> None:
    out = run(tmp_path, "smoke", "--model", "fake/false-ready-fia", "--json")
    assert out.returncode == 1, out.stderr
    result = json.loads(out.stdout)
    for key in (
        "playbook",
        "status",
        "phase",
        "ready_s",
        "smoke",
        "first_error",
        "triage",
        "next",
        "log_path",
    ):
        assert key in result
    assert result["status"] == "failed" and result["phase"] == "text smoke"
    assert result["smoke"]["text"]["http_status"] == 500 and result["smoke"]["image"] is None
    assert "561002" in result["first_error"]["signature"] and result["first_error"]["lines"]
    assert (
        result["triage"]["matches"][0]["entry_id"] == "mla-attention-runtime-failures-after-ready"
    )
    assert result["next"]["playbook"] == "eager"
    assert Path(result["log_path"]).is_file()


def test_run_passes_extra_serve_args_after_the_double_dash(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        "fallback",
        "--model",
        "fake/kv-too-small",
        "--fallback",
        "max-model-len=2048",
        "--json",
        "--",
        "--max-model-len",
        "32768",
        "--enforce-eager",
    )
    result = json.loads(out.stdout)
    assert out.returncode == 0 and result["status"] == "passed", out.stderr
    assert result["argv"][-3:] == ["--enforce-eager", "--max-model-len", "2048"]


def test_run_refuses_what_is_not_allowed_with_a_usage_error(tmp_path: Path) -> None:
    out = run(tmp_path, "smoke", "--model", "org/m", "--", "--port", "1")
    assert out.returncode == 2 and "runner's own" in out.stderr
    out = run(tmp_path, "smoke", "--model", "org/m", "--env", "LD_PRELOAD=/x.so")
    assert out.returncode == 2 and "not an allowed environment override" in out.stderr
    out = run(tmp_path, "fallback", "--model", "org/m")
    assert out.returncode == 2 and "say which fallback" in out.stderr
    out = run(tmp_path, "smoke", "--model", "/etc/passwd")
    assert out.returncode == 2 and "model roots" in out.stderr


def test_run_says_how_far_the_capture_is_and_that_it_is_triaging(tmp_path: Path) -> None:
    out = run(tmp_path, "smoke", "--model", "fake/false-ready-fia")
    assert out.returncode == 1, out.stderr
    assert re.search(r"\[starting\] capturing graphs \d+/\d+", out.stderr), out.stderr
    assert "[triage] reading the log against the runbook" in out.stderr
    assert "FAILED" in out.stdout
    (log,) = [line for line in out.stdout.splitlines() if line.startswith("log: ")]
    assert Path(log.removeprefix("log: ")).is_file(), "a path is printed whole, never wrapped"


def test_a_run_that_launched_nothing_prints_no_log_path(tmp_path: Path) -> None:
    root = tmp_path / "models"
    root.mkdir()
    out = run(tmp_path, "smoke", "--model", str(root / "missing"), "--model-root", str(root))
    assert out.returncode == 3 and "BLOCKED" in out.stdout, out.stdout + out.stderr
    assert "log:" not in out.stdout
