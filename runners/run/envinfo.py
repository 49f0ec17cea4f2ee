"""What is installed on the host, captured with every run: versions and import paths of
the serving stack, the NPUs (`npu-smi info`), and the launch's env overrides.

Every probe runs with the server's own environment (`server.host_environment`), never the
agent's: the agent's token and other secrets reach no process it starts."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PACKAGES = ("vllm", "vllm_ascend", "torch", "torch_npu", "transformers", "triton_ascend")
DISTRIBUTIONS = {
    "vllm_ascend": "vllm-ascend",
    "torch_npu": "torch-npu",
    "triton_ascend": "triton-ascend",
}
NPU_SMI_LINES = 40


# Run by the server's own interpreter: what `vllm serve` will import, not what the agent's
# environment happens to hold (vLLM often lives in another venv).
_PROBE = """
import importlib.metadata as m, importlib.util as u, json, sys
out = {}
for mod, dist in json.loads(sys.argv[1]).items():
    version = None
    for name in (dist, mod):
        try:
            version = m.version(name)
            break
        except m.PackageNotFoundError:
            pass
    try:
        spec = u.find_spec(mod)
    except (ImportError, ValueError):
        spec = None
    out[mod] = {"version": version, "path": spec.origin if spec else None}
print(json.dumps({"python": sys.version.split()[0], "packages": out}))
"""


def server_python(vllm_cmd: list[str], env: Mapping[str, str]) -> str | None:
    """The interpreter that runs `vllm_cmd`: named first, or on its script's #! line."""
    exe = shutil.which(vllm_cmd[0], path=env.get("PATH"))
    if exe is None:
        return None
    if "python" in Path(exe).name:
        return exe
    try:
        with Path(exe).open("rb") as f:
            first = f.readline(300).decode("utf-8", "replace")
    except OSError:
        return None
    if first.startswith("#!") and "python" in first:
        words = first[2:].split()
        return words[-1] if words[0].endswith("/env") else words[0]
    return None


def packages(
    vllm_cmd: list[str], env: Mapping[str, str], timeout_s: float = 60.0
) -> tuple[str | None, dict[str, Any]]:
    """(python version, {module: {version, path}}) as the server's interpreter sees them."""
    python = server_python(vllm_cmd, env)
    if python is None:
        return None, {}
    wanted = {m: DISTRIBUTIONS.get(m, m) for m in PACKAGES}
    try:
        out = subprocess.run(
            [python, "-c", _PROBE, json.dumps(wanted)],
            capture_output=True, text=True, timeout=timeout_s, check=False, env=dict(env),
        )  # fmt: skip
        found = json.loads(out.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None, {}
    modules = {k: v for k, v in found["packages"].items() if v["version"] or v["path"]}
    return str(found["python"]), modules


def npu_summary(env: Mapping[str, str], timeout_s: float = 20.0) -> str | None:
    exe = shutil.which("npu-smi", path=env.get("PATH"))
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "info"],
            capture_output=True, text=True, timeout=timeout_s, check=False, env=dict(env),
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"npu-smi info failed: {exc}"
    lines = (out.stdout or out.stderr).splitlines()
    return "\n".join(lines[:NPU_SMI_LINES])


def server_version(
    vllm_cmd: list[str], env: Mapping[str, str], timeout_s: float = 60.0
) -> str | None:
    """`vllm --version` of the command that will serve (it may be another venv's)."""
    try:
        out = subprocess.run(
            [*vllm_cmd, "--version"],
            capture_output=True, text=True, timeout=timeout_s, check=False, env=dict(env),
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or "").strip().splitlines()
    return text[-1][:100] if out.returncode == 0 and text else None


def capture(vllm_cmd: list[str], env: Mapping[str, str]) -> dict[str, Any]:
    """What the host runs, probed with `env`: the environment the server gets."""
    python, modules = packages(vllm_cmd, env)
    return {
        "host": platform.node(),
        "python": python,
        "vllm_cmd": " ".join(vllm_cmd),
        "vllm_cmd_version": server_version(vllm_cmd, env),
        "packages": modules,
        "npu": npu_summary(env),
    }
