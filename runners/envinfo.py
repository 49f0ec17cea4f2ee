"""What is installed on the host, captured with every run: versions and import paths of
the serving stack, the NPUs (`npu-smi info`), and the launch's env overrides."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import shutil
import subprocess
from typing import Any

PACKAGES = ("vllm", "vllm_ascend", "torch", "torch_npu", "transformers", "triton_ascend")
DISTRIBUTIONS = {
    "vllm_ascend": "vllm-ascend",
    "torch_npu": "torch-npu",
    "triton_ascend": "triton-ascend",
}
NPU_SMI_LINES = 40


def _version(module: str) -> str | None:
    for name in (DISTRIBUTIONS.get(module, module), module):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _origin(module: str) -> str | None:
    """Where `import module` would come from, without importing it (torch takes seconds)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec else None


def npu_summary(timeout_s: float = 20.0) -> str | None:
    exe = shutil.which("npu-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "info"], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"npu-smi info failed: {exc}"
    lines = (out.stdout or out.stderr).splitlines()
    return "\n".join(lines[:NPU_SMI_LINES])


def server_version(vllm_cmd: list[str], timeout_s: float = 60.0) -> str | None:
    """`vllm --version` of the command that will serve (it may be another venv's)."""
    try:
        out = subprocess.run(
            [*vllm_cmd, "--version"], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or "").strip().splitlines()
    return text[-1][:100] if out.returncode == 0 and text else None


def capture(vllm_cmd: list[str]) -> dict[str, Any]:
    packages = {m: {"version": _version(m), "path": _origin(m)} for m in PACKAGES}
    return {
        "host": platform.node(),
        "python": platform.python_version(),
        "vllm_cmd": " ".join(vllm_cmd),
        "vllm_cmd_version": server_version(vllm_cmd),
        "packages": {m: v for m, v in packages.items() if v["version"] or v["path"]},
        "npu": npu_summary(),
    }
