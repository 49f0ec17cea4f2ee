"""Secrets never leave the agent: every format a log, an argv or a reply may carry is
masked with the rest of the line kept, and the agent redacts the whole result, its events,
heartbeat tails and the server log it keeps before any of it is sent or posted."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runners import JobSpec, RunResult, redact
from runners.redact import redact_data, redact_lines
from runners.run.result import FirstError
from tests.runners.test_agent import Host

PEM_BODY = "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB"

# (a realistic line with a fake secret, the secret, a part of the line that must stay)
FORMATS: list[tuple[str, str, str]] = [
    ("SLACK_BOT_TOKEN=xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrSt",
     "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrSt", "SLACK_BOT_TOKEN="),
    ("search as xoxp-1111111111-2222222222-3333333333-abcdef0123456789 failed",
     "xoxp-1111111111-2222222222-3333333333-abcdef0123456789", "failed"),
    ("legacy xoxa-2-1234567890-abcdefghijkl0123 revoked", "xoxa-2-1234567890-abcdefghijkl0123",
     "revoked"),
    ("refresh token xoxe-1-My0xLTEyMzQ1Njc4OTAtMTIzNDU2Nzg5MC1hYmNk rotated",
     "My0xLTEyMzQ1Njc4OTAtMTIzNDU2Nzg5MC1hYmNk", "rotated"),
    ("rotated to xoxe.xoxp-1-Mi0yLTExMTEtMjIyMi1hYmNkZWZnaGlqa2w now",
     "Mi0yLTExMTEtMjIyMi1hYmNkZWZnaGlqa2w", "now"),
    ("SLACK_APP_TOKEN: xapp-1-A0123456789-1234567890123-abcdef0123456789",
     "xapp-1-A0123456789-1234567890123-abcdef0123456789", "SLACK_APP_TOKEN:"),
    ("pushed with github_pat_11ABCDEFG0abcdefghijkl_MNOPQRSTUVWXYZabcdefghijklmnop0 ok",
     "github_pat_11ABCDEFG0abcdefghijkl_MNOPQRSTUVWXYZabcdefghijklmnop0", " ok"),
    ("remote: ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 denied",
     "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "denied"),
    ("oauth gho_16C7e42F292c6912E7710c838347Ae178B4a expired",
     "gho_16C7e42F292c6912E7710c838347Ae178B4a", "expired"),
    ("app user ghu_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 ok",
     "ghu_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "app user"),
    ("installation ghs_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 ok",
     "ghs_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "installation"),
    ("refresh ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66 ok",
     "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66", "refresh"),
    ("gitlab push glpat-AbCdEf0123456789xYzW rejected", "glpat-AbCdEf0123456789xYzW", "rejected"),
    ("Downloading with hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567 from the hub",
     "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567", "from the hub"),
    ("id_token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U received", "dozjgNryP4J3jVmNHl0w5N", "received"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZDEyMw==", "dXNlcjpwYXNzd29yZDEyMw==",
     "Authorization: Basic"),
    ("Proxy-Authorization: Basic cHJveHk6c2VjcmV0MTIz", "cHJveHk6c2VjcmV0MTIz",
     "Proxy-Authorization:"),
    ("curl -H 'Authorization: Bearer abcDEF123456ghiJKL789' https://api.example.com",
     "abcDEF123456ghiJKL789", "https://api.example.com"),
    ("x-api-key: 3f2a9c1b7d6e4f5a8b9c0d1e2f3a4b5c", "3f2a9c1b7d6e4f5a8b9c0d1e2f3a4b5c", "x-api-key:"),
    ("GET https://search.example.com/q?api-key=AbC123dEf456GhI789&q=qwen",
     "AbC123dEf456GhI789", "&q=qwen"),
    ('{"apikey": "k3y-0123456789abcdef", "model": "qwen"}', "k3y-0123456789abcdef",
     '"model": "qwen"'),
    ("X-Auth-Token: 0123456789abcdef0123", "0123456789abcdef0123", "X-Auth-Token:"),
    ("Cookie: session=abcdef0123456789abcdef; theme=dark", "abcdef0123456789abcdef", "Cookie:"),
    (f"loading key:\n-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"
     "\nkey loaded", PEM_BODY, "key loaded"),
    (f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n-----END OPENSSH PRIVATE KEY-----\nok",
     PEM_BODY, "ok"),
    (f"tail starts here\n-----BEGIN PRIVATE KEY-----\n{PEM_BODY}", PEM_BODY, "tail starts here"),
    (f"{PEM_BODY}\n-----END EC PRIVATE KEY-----\nnext line", PEM_BODY, "next line"),
    ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "aws_access_key_id"),
    ("session ASIAIOSFODNN7EXAMPLE expires", "ASIAIOSFODNN7EXAMPLE", "expires"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key"),
    ("AWS Secret Access Key [None]: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS Secret Access Key"),
    ("creds AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY in use",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "in use"),
    ("mysql --user root --pwd S3cr3tPwd! --host db", "S3cr3tPwd!", "--host db"),
    ("redis-cli --password=hunter22 ping", "hunter22", "ping"),
    ("ascend-oncall runner --server https://x --token abcdefghijklmnop", "abcdefghijklmnop",
     "--server https://x"),
    ("vllm serve m --api-key local-key-0123 --port 1", "local-key-0123", "--port 1"),
    ("git clone https://bob:s3cretpw@git.example.com/x", "s3cretpw", "git.example.com/x"),
    ("fetch https://0123456789abcdef0123456789abcdef@github.com/o/r",
     "0123456789abcdef0123456789abcdef", "github.com/o/r"),
    ("MODELSCOPE_API_TOKEN=ms-0123456789abcdef", "ms-0123456789abcdef", "MODELSCOPE_API_TOKEN="),
    ("client_secret=Zx9_yW8-vU7tS6rQ5 grant=code", "Zx9_yW8-vU7tS6rQ5", "grant=code"),
    ("DB_PASSWORD: hunter2222", "hunter2222", "DB_PASSWORD:"),
    ('password="correct horse battery staple" user=bob', "horse battery", "user=bob"),
    ("posting to https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
     "XXXXXXXXXXXXXXXXXXXXXXXX", "posting to https://hooks.slack.com"),
    ("OPENAI: sk-proj-AbCdEf0123456789AbCdEf0123456789", "AbCdEf0123456789AbCdEf", "OPENAI:"),
    ("maps key=AIzaSyA-0123456789abcdefghijklmnopqrstu", "AIzaSyA-0123456789abcdefghij", "maps"),
    ('{"token": "abcd-efgh-ijkl-mnop"}', "abcd-efgh-ijkl-mnop", '"token"'),
    ("//registry.npmjs.org/:_authToken=npm_AbCdEf0123456789AbCdEf0123456789AbCd",
     "npm_AbCdEf0123456789AbCdEf0123456789AbCd", "registry.npmjs.org"),
    ("AccountName=acct;AccountKey=abc123DEF456ghi789==;EndpointSuffix=core",
     "abc123DEF456ghi789==", "EndpointSuffix=core"),
    ("ONCALL_AGENT_TOKEN=oncall_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
     "oncall_AbCdEfGhIjKlMnOpQrStUvWxYz012345", "ONCALL_AGENT_TOKEN="),
]  # fmt: skip


def test_there_are_at_least_thirty_formats() -> None:
    assert len(FORMATS) >= 30


@pytest.mark.parametrize(("line", "secret", "kept"), FORMATS, ids=[f[2][:30] for f in FORMATS])
def test_each_format_is_masked_and_the_rest_of_the_line_kept(
    line: str, secret: str, kept: str
) -> None:
    out = redact(line)
    assert secret not in out and "[redacted]" in out, out
    assert kept in out, out
    assert redact(out) == out  # redacting twice changes nothing


@pytest.mark.parametrize(("line", "secret", "kept"), FORMATS, ids=[f[2][:30] for f in FORMATS])
def test_each_format_is_masked_in_a_list_of_log_lines(line: str, secret: str, kept: str) -> None:
    lines = ["INFO starting", *line.split("\n"), "INFO done"]
    out = redact_lines(lines)
    assert secret not in "\n".join(out) and out[0] == "INFO starting"
    if "BEGIN" not in line or "END" in line:  # a key left open masks what follows it
        assert out[-1] == "INFO done"


ORDINARY = [
    "max_tokens=1024 tokenizer=Qwen/Qwen3 max_num_batched_tokens=8192",
    "RuntimeError: call aclnnFusedInferAttentionScoreV3 failed, error code is 561002",
    "GPU KV cache size: 131,072 tokens",
    "generation config: eos_token_id=151645, bos_token_id=151643, pad_token_id=151643",
    "vllm serve Qwen/Qwen3-8B --max-num-batched-tokens 8192 --tokenizer-mode auto",
    "non-default args: {'model': 'Qwen/Qwen3-8B', 'api_key': None, 'enforce_eager': True}",
    "Downloading https://huggingface.co/Qwen/Qwen3-8B/resolve/main/config.json",
    "cloned ssh://git@github.com/vllm-project/vllm-ascend.git",
    "weights sha256:4f1c2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2",
    "INFO 08-14 10:00:01 [loader.py:458] Loading weights took 12.31 seconds",
]


@pytest.mark.parametrize("line", ORDINARY)
def test_ordinary_log_lines_are_left_alone(line: str) -> None:
    assert redact(line) == line


def test_a_whole_result_is_redacted_and_stays_a_result() -> None:
    result = RunResult(
        playbook="smoke", status="failed", phase="starting",
        verdict="failed: HF_TOKEN=hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
        first_error=FirstError(
            signature="OSError: 401 for https://bob:s3cretpw@hub.example.com/x",
            lines=["Authorization: Basic dXNlcjpwYXNzd29yZDEyMw=="],
        ),
        notes=["env had SLACK_BOT_TOKEN=xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrSt"],
        smoke={"text": {"ok": False, "error": "x-api-key: 3f2a9c1b7d6e4f5a8b9c0d1e2f3a4b5c"},
               "image": None},
        argv=["vllm", "serve", "org/m", "--api-key", "local-key-0123"],
        log_tail=["-----BEGIN PRIVATE KEY-----", PEM_BODY, "-----END PRIVATE KEY-----", "ok"],
        environment={"npu": "token=abcdefghijklmnop"},
        spec=JobSpec(playbook="smoke", model="org/m"),
    )  # fmt: skip
    out = result.redacted()
    dumped = out.model_dump_json()
    for secret in ("hf_AbCd", "s3cretpw", "dXNlcjpw", "xoxb-", "3f2a9c1b", "local-key-0123",
                   PEM_BODY, "abcdefghijklmnop"):  # fmt: skip
        assert secret not in dumped, secret
    assert out.log_tail[-1] == "ok" and out.argv[:4] == ["vllm", "serve", "org/m", "--api-key"]
    assert out.smoke["text"] == {"ok": False, "error": "x-api-key: [redacted]"}
    assert out.spec == result.spec and out.status == "failed"
    assert RunResult.model_validate_json(dumped) == out


def test_redacting_data_keeps_its_shape() -> None:
    data = {"argv": ["--token", "abcdefghijklmnop", "--port", "1"], "n": 3, "none": None}
    assert redact_data(data) == {
        "argv": ["--token", "[redacted]", "--port", "1"],
        "n": 3,
        "none": None,
    }


LEAKY = """\
import sys
print("INFO loading with HF_TOKEN=hf_LeakyLeakyLeakyLeakyLeaky0123", flush=True)
print("-----BEGIN RSA PRIVATE KEY-----")
print("MIIEowIBAAKCAQEAleakyPemBodyLeakyPemBodyLeaky")
print("-----END RSA PRIVATE KEY-----")
print("Traceback (most recent call last):")
print('  File "/opt/vllm/vllm/entrypoints/cli/main.py", line 73, in main')
print("OSError: 401 for https://bob:leakypass0001@hub.example.com/api x-api-key: leakykey0002")
sys.exit(1)
"""
LEAKED = ("hf_Leaky", "leakyPemBody", "leakypass0001", "leakykey0002", "hf_LeakyServedName")


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    leaky = tmp_path / "leaky_vllm.py"
    leaky.write_text(LEAKY)
    leaky.chmod(leaky.stat().st_mode | stat.S_IXUSR)
    h = Host(tmp_path)
    h.env["ONCALL_VLLM_CMD"] = f"{sys.executable} {leaky}"
    try:
        yield h
    finally:
        h.close()


def test_nothing_the_agent_sends_or_keeps_holds_a_secret(host: Host) -> None:
    host.coordinator()
    host.agent(host.store.add_agent("npu"))
    spec = JobSpec(
        playbook="smoke", model="org/m", args=("--served-model-name", "hf_LeakyServedName0123456")
    )
    done = host.finished(host.store.submit(spec).id)
    assert done.status.value == "failed" and done.result is not None, host.logs()
    assert done.result.first_error is not None  # the traceback was read, then masked
    sent = json.dumps(
        [
            done.result.model_dump(mode="json"),
            list(done.log_tail),
            # what the agent streamed (the queued events are the request, written by the store)
            [e.message for e in host.store.events(done.id) if e.phase != "queued"],
        ]
    )
    assert not [s for s in LEAKED if s in sent], sent
    assert "[redacted]" in sent
    kept = Path(done.result.log_path or "").read_text()
    assert not [s for s in LEAKED if s in kept] and "Traceback" in kept
