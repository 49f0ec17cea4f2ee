"""`ascend-oncall doctor` as users and scripts call it: the JSON contract, the exit codes,
and a table with each finding's evidence, runbook entry and actions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from kb import parse
from runners.doctor import entries as E
from tests.doctor.conftest import edit_config, fake_vllm

pytestmark = pytest.mark.usefixtures("isolated_env")
runner = CliRunner()
RUNBOOK = {e.id: e for e in parse()}


def doctor(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["doctor", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_of_a_healthy_checkpoint(healthy: Path, tmp_path: Path) -> None:
    code, stdout, _ = doctor(str(healthy), "--json", "--vllm-cmd", fake_vllm(tmp_path)[0])
    body = json.loads(stdout)
    assert code == 0 and body["ok"] is True and body["findings"] == []
    assert [c["check"] for c in body["checked"]][:3] == ["config", "files", "architecture"]
    assert {c["outcome"] for c in body["checked"]} == {"passed"}


def test_json_of_a_defect_names_the_exact_runbook_title(healthy: Path) -> None:
    code, stdout, _ = doctor(str(healthy), "--json", "--tp", "3", "--vllm-cmd", "/nowhere/vllm")
    body = json.loads(stdout)
    assert code == 1 and body["ok"] is False
    first = body["findings"][0]
    assert set(first) >= {"check", "severity", "entry_id", "title", "message", "evidence"}
    assert first["entry_id"] == E.QK_NORM
    assert first["title"] == "QK norm mismatch (KV heads / TP / head divisibility)"
    assert first["actions"] == list(RUNBOOK[E.QK_NORM].actions)
    assert next(c for c in body["checked"] if c["check"] == "architecture")["outcome"] == (
        "not checked"
    )


def test_serve_arguments_after_the_double_dash_are_judged(healthy: Path) -> None:
    code, stdout, _ = doctor(str(healthy), "--json", "--", "--max-model-len", "9999")
    assert code == 1
    assert [f["entry_id"] for f in json.loads(stdout)["findings"]] == [E.MAX_LENGTH]


def test_the_table_shows_evidence_entry_and_actions(healthy: Path, tmp_path: Path) -> None:
    edit_config(healthy, architectures=["NoSuchForCausalLM"])
    code, stdout, _ = doctor(str(healthy), "--vllm-cmd", fake_vllm(tmp_path)[0])
    assert code == 1
    assert "architecture" in stdout and "error" in stdout
    assert "NoSuchForCausalLM is not registered in the vLLM that will serve it" in stdout
    assert 'config.json architectures: ["NoSuchForCausalLM"]' in stdout
    assert "runbook: Architecture not recognized" in stdout
    assert "1. Verify `architectures` in model `config.json`." in stdout
    assert "vllm 0.11.0" in stdout


@pytest.mark.parametrize(
    "args",
    [
        ["/no/such/model"],
        ["HEALTHY", "--", "--tensor-parallel-size", "x"],
        ["HEALTHY", "--tp", "0"],
    ],
)
def test_usage_errors_exit_2_with_one_line(healthy: Path, args: list[str]) -> None:
    code, stdout, stderr = doctor(*[str(healthy) if a == "HEALTHY" else a for a in args])
    assert code == 2, (stdout, stderr)
    assert "Traceback" not in stdout + stderr and stdout == ""


def test_a_broken_checkpoint_is_findings_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\xff" * 8)
    code, stdout, _ = doctor(str(tmp_path / "m"), "--json")
    body = json.loads(stdout)
    assert code == 1
    assert {f["check"] for f in body["findings"]} == {"config", "index", "tokenizer"}
