"""The agent installs light: into a host's vLLM environment it adds a few small packages,
and changes none of torch, transformers or vLLM; its commands import none of the bot's."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
BOT_ONLY = {"torch", "faiss", "bm25s", "slack_bolt", "sentence_transformers", "transformers"}
# The coordinator's and the bot's service stack (the job store, its migrations, the HTTP API,
# its metrics) and the triage's model runtime: an agent loads none of them.
NOT_ON_A_HOST = {"sqlalchemy", "fastapi", "alembic", "uvicorn", "prometheus_client", "onnxruntime"}
NEVER_FOR_THE_AGENT = {
    "torch", "transformers", "sentence-transformers", "faiss-cpu", "slack-bolt", "slack-sdk",
    "bm25s", "onnxruntime", "scikit-learn", "scipy",
}  # fmt: skip
# What an Ascend host's environment already has, pinned as its vLLM needs them.
HOST = {"torch": "2.13.0", "transformers": "4.57.1", "vllm": "0.11.0",
        "vllm-ascend": "0.11.0rc1", "torch-npu": "2.7.1"}  # fmt: skip


def _loaded(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return {m.split(".")[0] for m in out.stdout.split()}


def test_the_agent_and_its_command_import_nothing_of_the_bot() -> None:
    assert not _loaded("import runners.agent.loop") & (BOT_ONLY | NOT_ON_A_HOST)
    help_ = (
        "from typer.testing import CliRunner\nfrom bot.cli import app\n"
        "r = CliRunner().invoke(app, ['runner', '--help'])\nassert r.exit_code == 0, r.output"
    )
    assert not _loaded(help_) & (BOT_ONLY | NOT_ON_A_HOST)


def _stub(site: Path, name: str, version: str) -> None:
    """An installed distribution as pip sees one: its metadata, and nothing else."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")


def test_installing_the_agent_into_a_vllm_environment_changes_none_of_it(
    tmp_path: Path,
) -> None:
    env = tmp_path / "host-env"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    for name, version in HOST.items():
        _stub(site, name, version)
    report = tmp_path / "report.json"
    done = subprocess.run(
        [python, "-m", "pip", "install", "--dry-run", "--quiet", "--disable-pip-version-check",
         "--report", str(report), f"{ROOT}[agent]"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0 and any(
        word in done.stderr for word in ("Could not fetch", "NewConnectionError", "No matching")
    ):
        pytest.skip(f"the package index cannot be reached: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr[-2000:]
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert "ascend-oncall" in names
    assert not names & NEVER_FOR_THE_AGENT, sorted(names)
    assert not names & set(HOST), "the host's torch, transformers and vLLM stay as they are"
