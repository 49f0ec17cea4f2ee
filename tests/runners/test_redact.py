"""Secrets never reach Slack: tokens, keys and passwords in logs and argv are masked."""

from __future__ import annotations

import json

import pytest

from bot.render.run_blocks import verdict_blocks
from runners import FirstError, JobSpec, RunResult, Status, redact
from runners.redact import redact_data
from runners.run.vllm_process import host_environment
from runners.store.records import Job


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("export HF_TOKEN=hf_abcdefghijklmnopqrstuvwx", "hf_abcdefghijklmnopqrstuvwx"),
        ("SLACK_BOT_TOKEN=xoxb-1234-5678-abcdefgh", "xoxb-1234-5678-abcdefgh"),
        ("Authorization: Bearer eyJhbGciOi.J9xyz", "eyJhbGciOi.J9xyz"),
        ("git clone https://bob:s3cretpw@git.example.com/x", "s3cretpw"),
        ("{'api_key': 'abcd1234efgh'}", "abcd1234efgh"),
        (
            "--token oncall_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
            "oncall_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
        ),
        ("DB_PASSWORD: hunter2222", "hunter2222"),
        ("aws AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"),
    ],
)
def test_secrets_are_masked(line: str, secret: str) -> None:
    assert secret not in redact(line)
    assert "[redacted]" in redact(line)


def test_ordinary_log_lines_are_left_alone() -> None:
    for line in (
        "max_tokens=1024 tokenizer=Qwen/Qwen3 max_num_batched_tokens=8192",
        "RuntimeError: call aclnnFusedInferAttentionScoreV3 failed, error code is 561002",
        "GPU KV cache size: 131,072 tokens",
    ):
        assert redact(line) == line


def test_a_verdict_shows_no_secret_from_the_log() -> None:
    result = RunResult(
        playbook="smoke",
        status="failed",
        phase="starting",
        verdict="failed during loading",
        first_error=FirstError(signature="OSError: bad token hf_abcdefghijklmnopqrstuvwx"),
        log_tail=["HF_TOKEN=hf_abcdefghijklmnopqrstuvwx", "OSError: boom"],
        notes=["env had SLACK_BOT_TOKEN=xoxb-1234-5678-abcdefgh"],
    )
    job = Job(
        id=1, spec=JobSpec(playbook="smoke", model="org/m"), status=Status.FAILED, phase="done",
        stage=None, agent="npu", cancel_requested=False, result=result, log_tail=(),
        requested_by="U1", parent_id=None, origin=None,
        version=3, created_at=None, updated_at=None,  # type: ignore[arg-type]
    )  # fmt: skip
    shown = str(verdict_blocks(job, None))
    assert "hf_abc" not in shown and "xoxb-" not in shown and "[redacted]" in shown


def test_redacting_data_keeps_it_data() -> None:
    data = {
        "argv": ["--hf-overrides", '{"note":"token=abcd\\"}'],
        "n": 3,
        "tail": ["password=xyz1"],
    }
    out = redact_data(data)
    assert json.loads(json.dumps(out))["n"] == 3
    assert "xyz1" not in json.dumps(out) and "abcd" not in json.dumps(out)


def test_the_server_never_inherits_the_agents_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_AGENT_TOKEN", "oncall_secret")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("DB_PASSWORD", "pw")
    monkeypatch.setenv("HF_TOKEN", "hf_for_gated_weights")
    monkeypatch.setenv("ASCEND_TOOLKIT_HOME", "/usr/local/Ascend/ascend-toolkit/latest")
    env = host_environment()
    assert not {"ONCALL_AGENT_TOKEN", "SLACK_BOT_TOKEN", "DB_PASSWORD"} & set(env)
    assert env["HF_TOKEN"] == "hf_for_gated_weights" and "ASCEND_TOOLKIT_HOME" in env
