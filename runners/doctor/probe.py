"""Ask the interpreter that will serve the model what it has: the architectures its vLLM
registers (plugins such as vllm-ascend loaded, as `vllm serve` loads them), and whether
the names the model's own code imports exist in its `transformers` and packages.

Run as a child process (an argv list, a timeout, an empty working folder so nothing there
shadows a package); the questions go in on stdin as JSON, never on a command line.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from runners.doctor.remote_code import Import

PROBE_TIMEOUT_S = 180.0  # importing vLLM and its plugins takes seconds, on a busy host more
OUTPUT_MAX = 4 << 20
MARK = "@@ascend-oncall-doctor@@"
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}(\.[A-Za-z_][A-Za-z0-9_]{0,99}){0,15}")
_PYTHON = re.compile(r"python[0-9.]*")

# Kept to what Python 3.9 reads: the serving environment may be older than ours.
_SCRIPT = """
import importlib, importlib.util, json, sys
ask = json.loads(sys.stdin.read())
answer = {"python": sys.version.split()[0]}
try:
    import vllm
    answer["vllm"] = str(getattr(vllm, "__version__", "unknown"))
    try:
        from vllm.plugins import load_general_plugins
        load_general_plugins()
    except Exception as exc:
        answer["plugins_error"] = repr(exc)[:300]
    from vllm import ModelRegistry
    answer["architectures"] = sorted(ModelRegistry.get_supported_archs())
except Exception as exc:
    answer["vllm_error"] = repr(exc)[:300]
try:
    import transformers
    answer["transformers"] = str(transformers.__version__)
except Exception as exc:
    answer["transformers_error"] = repr(exc)[:300]
names = {}
for module, name in ask["names"]:
    try:
        found = importlib.import_module(module)
        names[module + ":" + name] = (not name) or hasattr(found, name)
    except Exception:
        names[module + ":" + name] = False
answer["names"] = names
stdlib = getattr(sys, "stdlib_module_names", ())
packages = {}
for top in ask["packages"]:
    try:
        packages[top] = top in stdlib or importlib.util.find_spec(top) is not None
    except Exception:
        packages[top] = False
answer["packages"] = packages
sys.stdout.write("\\n" + ask["mark"] + json.dumps(answer) + "\\n")
"""


@dataclass(frozen=True)
class Probe:
    """What the serving interpreter answered. `None` fields: it could not say."""

    python: str  # the interpreter's path
    versions: dict[str, str] = field(default_factory=dict)  # python, vllm, transformers
    architectures: frozenset[str] | None = None
    names: dict[str, bool] = field(default_factory=dict)  # "module:name" -> exists
    packages: dict[str, bool] = field(default_factory=dict)  # top-level package -> importable
    problem: str | None = None  # why vLLM or the probe itself did not answer

    def has(self, item: Import) -> bool | None:
        """Whether the import would work there; None when it was not asked."""
        if _transformers(item.module):
            return self.names.get(f"{item.module}:{item.name}")
        return self.packages.get(item.module.split(".")[0])


def _transformers(module: str) -> bool:
    return module == "transformers" or module.startswith("transformers.")


def find_interpreter(vllm_cmd: tuple[str, ...]) -> str | None:
    """The Python behind `vllm_cmd`: named first (`python -m vllm...`), on the `vllm`
    script's #! line (pip's `exec` trampoline for long paths included), or the venv's
    bin/python beside the script. None when there is none."""
    if not vllm_cmd:
        return None
    exe = shutil.which(vllm_cmd[0])
    if exe is None:
        return None
    path = Path(exe)
    if _PYTHON.fullmatch(path.name):
        return str(path)
    try:
        with path.open("rb") as f:
            head = f.read(1024).decode("utf-8", "replace").splitlines()
    except OSError:
        head = []
    found = _from_shebang(head)
    if found is not None:
        return found
    for name in ("python", "python3"):
        beside = path.parent / name
        if beside.is_file():
            return str(beside)
    return None


def _from_shebang(head: list[str]) -> str | None:
    if not head or not head[0].startswith("#!"):
        return None
    words = head[0][2:].split()
    if not words:
        return None
    if words[0].endswith("/env") and len(words) > 1:
        return shutil.which(words[-1])
    if _PYTHON.fullmatch(Path(words[0]).name):
        return words[0]
    # pip: `#!/bin/sh` then `'''exec' /long/path/bin/python "$0" "$@"`
    for line in head[1:3]:
        if line.startswith("'''exec' "):
            candidate = line.split()[1]
            if _PYTHON.fullmatch(Path(candidate).name):
                return candidate
    return None


def ask(
    python: str,
    imports: tuple[Import, ...] = (),
    timeout_s: float = PROBE_TIMEOUT_S,
) -> Probe:
    """Run the probe in `python`; every failure is an answer with its `problem`."""
    names = sorted({(i.module, i.name) for i in imports if _transformers(i.module)})
    packages = sorted({i.module.split(".")[0] for i in imports if not _transformers(i.module)})
    question = {
        "names": [[m, n] for m, n in names if _DOTTED.fullmatch(m) and (not n or n.isidentifier())],
        "packages": [p for p in packages if p.isidentifier()],
        "mark": MARK,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="oncall-doctor-") as empty:
            done = subprocess.run(
                [python, "-c", _SCRIPT],
                input=json.dumps(question), capture_output=True, text=True,
                timeout=timeout_s, cwd=empty, check=False,
            )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Probe(python, problem=f"{python} did not answer within {timeout_s:.0f} s")
    except OSError as exc:
        return Probe(python, problem=f"cannot run {python}: {exc.strerror}")
    answer = _answer(done.stdout[-OUTPUT_MAX:])
    if answer is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return Probe(python, problem=f"{python} exited {done.returncode}: {tail[0][:300]}")
    versions: dict[str, str] = {
        k: str(answer[k]) for k in ("python", "vllm", "transformers") if k in answer
    }
    archs = answer.get("architectures")
    problem = answer.get("vllm_error")
    return Probe(
        python,
        versions=versions,
        architectures=frozenset(map(str, archs)) if isinstance(archs, list) else None,
        names=_flags(answer.get("names")),
        packages=_flags(answer.get("packages")),
        problem=f"vLLM cannot be imported there: {problem}" if problem else None,
    )


def _flags(value: object) -> dict[str, bool]:
    return {str(k): bool(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _answer(stdout: str) -> dict[str, object] | None:
    """The probe's JSON line: vLLM logs to stdout on import, so it is marked."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARK):
            try:
                found = json.loads(line[len(MARK) :])
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None
