"""The launched `vllm serve` and every probe of the host (`vllm --version`, the package
probe, `npu-smi info`) get one environment built from an allow-list: what CANN and the hub
need, the job's allowed overrides, and nothing of the agent's own secrets."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from runners import JobSpec, RunnerConfig, run_playbook
from runners.run.vllm_process import host_environment
from tests.runners.conftest import FAKE_VLLM, FAST

# Secret-bearing variables an agent's environment may hold (the red-team's 11 and more).
SECRETS = {
    "ONCALL_AGENT_TOKEN": "oncall_AgentTokenAgentTokenAgentToken00",
    "SLACK_BOT_TOKEN": "xoxb-1111-2222-agentsecretslack",
    "OPENAI_API_KEY": "sk-proj-openaisecretopenaisecret00",
    "STORAGE_ACCOUNT_KEY": "storage-account-secret-0001",
    "GITHUB_PAT": "github_pat_11AAAAAAA0secretsecretsecret",
    "REGISTRY_AUTH": "registry-auth-secret-0002",
    "DATABASE_URL": "postgresql://svc:db-url-secret-0003@db.internal/oncall",
    "SSH_AUTH_SOCK": "/tmp/ssh-secret0004/agent.4242",
    "KUBECONFIG": "/home/ops/.kube/config-secret-0005",
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7SECRET06",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYsecret0007",
    "AWS_SESSION_TOKEN": "aws-session-secret-0008",
    "AWS_PROFILE": "prod-secret-0009",
    "GOOGLE_APPLICATION_CREDENTIALS": "/home/ops/gcp-secret-0010.json",
    "VAULT_TOKEN": "hvs.vault-secret-0011",
    "NPM_TOKEN": "npm_secret0012secret0012secret0012",
    "PGPASSWORD": "pg-secret-0013",
    "DOCKER_AUTH_CONFIG": '{"auths":{"r":{"auth":"secret0014"}}}',
    "NETRC": "/home/ops/.netrc-secret-0015",
    "GIT_ASKPASS": "/home/ops/askpass-secret-0016",
    "VLLM_API_KEY": "vllm-api-secret-0017",  # an allowed prefix does not let a key through
    "ASCEND_SECRET_TOKEN": "ascend-secret-0018",
    "HF_ENDPOINT": "https://mirror:hf-endpoint-secret-0019@hf-mirror.example.com",
    "HTTPS_PROXY": "http://proxyuser:proxy-secret-0020@proxy.example.com:3128",
    "http_proxy": "http://proxyuser:proxy-secret-0021@proxy.example.com:3128",
    "LD_PRELOAD": "/nonexistent/preload-secret-0022.so",
    "PYTHONSTARTUP": "/tmp/startup-secret-0023.py",
    "BASH_ENV": "/tmp/bash-env-secret-0024.sh",
    "MY_SERVICE_CREDENTIALS": "creds-secret-0025",
}
# What CANN's set_env.sh and the hub need, set by the operator on the host.
KEPT = {
    "ASCEND_TOOLKIT_HOME": "/usr/local/Ascend/ascend-toolkit/latest",
    "ASCEND_OPP_PATH": "/usr/local/Ascend/ascend-toolkit/latest/opp",
    "ATB_HOME_PATH": "/usr/local/Ascend/nnal/atb/latest",
    "HCCL_CONNECT_TIMEOUT": "1200",
    "LD_LIBRARY_PATH": "/usr/local/Ascend/driver/lib64",
    "HF_HOME": "/data/hf",
    "HF_TOKEN": "hf_GatedWeightsReadTokenForTheServer",
    "HF_HUB_OFFLINE": "1",
    "LANG": "C.UTF-8",
    "NO_PROXY": "localhost,127.0.0.1",
    "VLLM_MAX_TOKENS_PER_EXPERT_FP4_MOE": "163840",  # TOKENS is a count, not a token
}


@pytest.fixture
def agent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**SECRETS, **KEPT}.items():
        monkeypatch.setenv(name, value)


def leaks(env: dict[str, str]) -> list[str]:
    dumped = json.dumps(env)
    return [name for name, value in SECRETS.items() if name in env or value in dumped]


def test_the_server_environment_is_an_allow_list(agent_env: None) -> None:
    env = host_environment()
    assert not leaks(env)
    assert {k: env.get(k) for k in KEPT} == KEPT
    assert "PATH" in env and "HOME" in env


def test_only_the_operator_passes_more_and_never_a_secret(
    agent_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITE_MIRROR", "on")
    env = host_environment(pass_env=("SITE_*", "GITHUB_PAT", "AWS_*", "VAULT_TOKEN"))
    assert env["SITE_MIRROR"] == "on"
    assert not leaks(env)


def spy(path: Path, real: str, dumps: Path) -> Path:
    """An executable that writes down the environment it was started with, then becomes
    `real` (a python named python-*: the package probe runs it as the server's interpreter)."""
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"out = os.path.join({str(dumps)!r}, '%s-%d.json' % (os.path.basename(sys.argv[0]), os.getpid()))\n"
        "with open(out, 'w') as f:\n"
        "    json.dump({'argv': sys.argv, 'env': dict(os.environ)}, f)\n"
        + (f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n" if real else "print('NPU 910B2')\n")
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_the_server_and_every_probe_get_only_the_allow_listed_environment(
    agent_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dumps, bin_dir = tmp_path / "dumps", tmp_path / "bin"
    dumps.mkdir()
    bin_dir.mkdir()
    python = spy(bin_dir / "python-spy", sys.executable, dumps)
    spy(bin_dir / "npu-smi", "", dumps)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_VLLM_TIME_SCALE", "0.1")
    config = RunnerConfig(
        vllm_cmd=(str(python), str(FAKE_VLLM)), port=0, work_dir=tmp_path / "runner",
        budgets=FAST, pass_env=("FAKE_VLLM_*",),
    )  # fmt: skip
    spec = JobSpec(playbook="smoke", model="fake/healthy", env={"HCCL_OP_EXPANSION_MODE": "AIV"})
    result = run_playbook(spec, config)
    assert result.status == "passed", (result.verdict, result.notes)
    seen = {}
    for dump in dumps.glob("*.json"):
        data = json.loads(dump.read_text())
        argv = data["argv"]
        kind = (
            "npu-smi" if argv[0].endswith("npu-smi")
            else "serve" if "serve" in argv
            else "version" if "--version" in argv
            else "package probe" if "-c" in argv
            else "other"
        )  # fmt: skip
        seen[kind] = data["env"]
    assert {"serve", "version", "package probe", "npu-smi"} <= set(seen), sorted(seen)
    for kind, env in seen.items():
        assert not leaks(env), f"{kind} got {leaks(env)}"
        assert {k: env.get(k) for k in KEPT} == KEPT, kind
    assert seen["serve"]["HCCL_OP_EXPANSION_MODE"] == "AIV"  # the job's allowed override
    assert seen["serve"]["FAKE_VLLM_TIME_SCALE"] == "0.1"  # the operator's pass_env
