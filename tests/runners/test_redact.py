"""Secrets never reach Slack: tokens, keys and passwords in logs and argv are masked."""

from __future__ import annotations

import pytest

from bot.run_blocks import verdict_blocks
from runners import FirstError, JobSpec, RunResult, Status, redact
from runners.store import Job


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
        requested_by="U1", parent_id=None, channel_id="C1", thread_ts=None, message_ts="1.2",
        team_id=None, version=3, created_at=None, updated_at=None,  # type: ignore[arg-type]
    )  # fmt: skip
    shown = str(verdict_blocks(job, None))
    assert "hf_abc" not in shown and "xoxb-" not in shown and "[redacted]" in shown
