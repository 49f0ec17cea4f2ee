"""What a job asks for, and the rules it must pass before anything runs.

A request from chat becomes a `JobSpec` here or not at all. Serve arguments pass an
allow-list of flags with typed values (JSON values: a typed key allow-list per flag, in
`jsonflags`), env overrides an allow-list of names, the model is a hub name or a path under
configured roots once its links are followed; the launch is an argv list, never a shell
string. The agent checks again on its host: the coordinator's word is not enough.
"""

from __future__ import annotations

import os.path
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from runners.errors import SpecError
from runners.spec import jsoncheck, jsonflags
from runners.spec.fallbacks import FALLBACKS, Fallback, find_fallback

Playbook = Literal["smoke", "eager", "fallback", "doctor"]
PLAYBOOKS: tuple[Playbook, ...] = ("smoke", "eager", "fallback")

_INT = re.compile(r"\d{1,9}")
_FLOAT = re.compile(r"\d{1,6}(\.\d{1,6})?")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/+-]{0,199}")
_SIZE = re.compile(r"\d{1,12}[KMGkmg]?i?[Bb]?")
_ENV_VALUE = re.compile(r"[A-Za-z0-9_.,:=+/-]{0,200}")
_HUB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")

Value = Callable[[str], str]  # the value as the argv will hold it, or ValueError saying why


def _choice(*names: str) -> Value:
    def check(value: str) -> str:
        if value not in names:
            raise ValueError("one of " + ", ".join(names))
        return value

    return check


def _match(pattern: re.Pattern[str], what: str) -> Value:
    def check(value: str) -> str:
        if pattern.fullmatch(value) is None:
            raise ValueError(what)
        return value

    return check


def _json(flag: str) -> Value:
    return lambda value: jsoncheck.canonical(value, jsonflags.SCHEMAS[flag])


INT = _match(_INT, "a whole number")
FLOAT = _match(_FLOAT, "a number")
NAME = _match(_NAME, "a name (letters, digits, _.:/+-)")
SIZE = _match(_SIZE, "a size (8GiB, 8589934592)")

# Flags a job may pass to `vllm serve`, with a check of their value (None: takes no value).
# --host and --port are the runner's own. Left out: anything that names a file, a plugin or
# a second model or code to import (--chat-template, --speculative-config, --tokenizer,
# --kv-transfer-config); JSON values pass a typed key allow-list of their own (`jsonflags`).
# --trust-remote-code runs the model repo's own Python on the host: only where the operator
# allowed it (REMOTE_CODE).
FLAGS: dict[str, Value | None] = {
    "--tensor-parallel-size": INT,
    "--data-parallel-size": INT,
    "--pipeline-parallel-size": INT,
    "--enable-expert-parallel": None,
    "--enforce-eager": None,
    "--max-model-len": INT,
    "--max-num-seqs": INT,
    "--max-num-batched-tokens": INT,
    "--gpu-memory-utilization": FLOAT,
    "--kv-cache-memory-bytes": SIZE,
    "--block-size": INT,
    "--seed": INT,
    "--dtype": _choice("auto", "bfloat16", "float16", "half", "float32", "float"),
    "--load-format": _choice("auto", "dummy", "safetensors", "pt", "npcache"),
    "--quantization": NAME,
    "--served-model-name": NAME,
    "--revision": NAME,  # a hub commit or branch: part of what known-good replies are filed by
    "--generation-config": _choice("auto", "vllm"),
    "--compilation-config": _json("--compilation-config"),
    "--additional-config": _json("--additional-config"),
    "--limit-mm-per-prompt": _json("--limit-mm-per-prompt"),
    "--hf-overrides": _json("--hf-overrides"),
    "--mm-processor-cache-gb": FLOAT,
    "--no-enable-prefix-caching": None,
    "--enable-prefix-caching": None,
    "--language-model-only": None,
    "--enable-chunked-prefill": None,
    "--no-enable-chunked-prefill": None,
    "--distributed-executor-backend": _choice("mp", "ray", "uni"),
    "--reasoning-parser": NAME,
    "--tool-call-parser": NAME,
    "--enable-auto-tool-choice": None,
}
REMOTE_CODE = "--trust-remote-code"
ALIASES = {
    "-tp": "--tensor-parallel-size",
    "--tp": "--tensor-parallel-size",
    "-dp": "--data-parallel-size",
    "-pp": "--pipeline-parallel-size",
    "-O": "--compilation-config",
}

# Environment a job may set on the server, by name; values are plain words (no $, spaces,
# quotes or newlines). The runner sets the rest (VLLM_ENGINE_READY_TIMEOUT_S, ...) itself.
ENV_NAMES = frozenset(
    {
        "TORCHDYNAMO_DISABLE",
        "HCCL_OP_EXPANSION_MODE",
        "HCCL_BUFFSIZE",
        "HCCL_CONNECT_TIMEOUT",
        "HCCL_EXEC_TIMEOUT",
        "HCCL_IF_BASE_PORT",
        "HCCL_DETERMINISTIC",
        "HCCL_NPU_SOCKET_PORT_RANGE",
        "LCCL_DETERMINISTIC",
        "PYTORCH_NPU_ALLOC_CONF",
        "TASK_QUEUE_ENABLE",
        "OMP_NUM_THREADS",
        "OMP_PROC_BIND",
        "ASCEND_RT_VISIBLE_DEVICES",
        "ATB_MATMUL_SHUFFLE_K_ENABLE",
        "ATB_LLM_LCOC_ENABLE",
        "VLLM_ALLOW_LONG_MAX_MODEL_LEN",
        "VLLM_LOGGING_LEVEL",
        "VLLM_USE_MODELSCOPE",
        "VLLM_ASCEND_ENABLE_MLAPO",
        "VLLM_ASCEND_ENABLE_NZ",
        "VLLM_ASCEND_BALANCE_SCHEDULING",
        "VLLM_ASCEND_ENABLE_FUSED_MC2",
        "VLLM_ASCEND_ENABLE_FLASHCOMM1",
    }
)


class JobSpec(BaseModel):
    """One playbook run, as dispatched: everything in it has passed `check`."""

    model_config = ConfigDict(frozen=True)

    playbook: Playbook
    model: str
    vl: bool = False
    fallback: str | None = None  # a fallback name, or name=value (max-model-len=8192)
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    labels: tuple[str, ...] = ()  # run only on an agent with all of these (a host name counts)
    no_doctor: bool = False  # launch without examining the model folder first
    # A passing run's deterministic replies become its checkpoint's known-good ones.
    record_golden: bool = False
    autopilot: bool = False  # a rung of the autopilot's ladder: its verdict chooses the next
    probe_max_len: bool = False  # the ladder also finds the longest --max-model-len that works

    def describe(self) -> str:
        """How a person would type this job: `/smoke Qwen/Qwen3-8B --vl --enforce-eager`."""
        words = [f"/{self.playbook}"]
        if self.fallback:
            words.append(self.fallback)
        words.append(self.model)
        words += ["--vl"] if self.vl else []
        words += ["--no-doctor"] if self.no_doctor else []
        words += ["--probe-max-len"] if self.probe_max_len else []
        words += ["--record-golden"] if self.record_golden else []
        words += [f"--env {k}={v}" for k, v in sorted(self.env.items())]
        words += [shlex.quote(a) for a in self.args]
        words += ["on " + ",".join(self.labels)] if self.labels else []
        return " ".join(words)


def check_args(args: Sequence[str], remote_code: bool = False) -> tuple[str, ...]:
    """Serve arguments in canonical form (`--flag value`), or SpecError naming the culprit.
    `remote_code`: the operator lets jobs pass --trust-remote-code."""
    out: list[str] = []
    items = list(args)
    i = 0
    while i < len(items):
        word = items[i]
        flag, eq, inline = word.partition("=") if word.startswith("-") else (word, "", "")
        flag = ALIASES.get(flag, flag)
        if flag.startswith("--"):
            flag = "--" + flag[2:].replace("_", "-")
        if flag in ("--host", "--port"):
            raise SpecError(f"`{flag}` is the runner's own (its --port / ONCALL_RUNNER_PORT)")
        if flag == REMOTE_CODE:
            if not remote_code:
                raise SpecError(
                    "`--trust-remote-code` runs the model repository's own code on the host; "
                    "the operator has not allowed it (ONCALL_ALLOW_REMOTE_CODE=true on the bot, "
                    "and `--allow-remote-code` on the agent or `run`)"
                )
            if eq:
                raise SpecError(f"`{flag}` takes no value")
            out.append(flag)
            i += 1
            continue
        if flag not in FLAGS:
            raise SpecError(
                f"`{word[:60]}` is not an allowed serve argument; allowed: "
                + ", ".join(sorted(FLAGS))
            )
        check = FLAGS[flag]
        if check is None:
            if eq:
                raise SpecError(f"`{flag}` takes no value")
            out.append(flag)
            i += 1
            continue
        if eq:
            value = inline
            i += 1
        elif i + 1 < len(items):
            value = items[i + 1]
            i += 2
        else:
            raise SpecError(f"`{flag}` needs a value")
        try:
            out += [flag, check(value)]
        except ValueError as exc:
            raise SpecError(f"`{value[:60]}` is not a valid value for `{flag}`: {exc}") from exc
    return tuple(out)


def check_env(env: dict[str, str]) -> dict[str, str]:
    for name, value in env.items():
        if name not in ENV_NAMES:
            raise SpecError(
                f"`{name[:60]}` is not an allowed environment override; allowed: "
                + ", ".join(sorted(ENV_NAMES))
            )
        if _ENV_VALUE.fullmatch(value) is None:
            raise SpecError(f"the value of {name} may hold only letters, digits and _.,:=+/-")
    return dict(env)


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def check_model(model: str, roots: Iterable[str] = (), resolve: bool = True) -> str:
    """A hub name (`Qwen/Qwen3-8B`) or an absolute path under one of `roots` once links
    are followed (a link inside a root may point anywhere). `resolve`: the path comes back
    resolved, as checked (the agent); else as typed, normalised (the bot, whose disk may
    not be the host's)."""
    if model.startswith("/"):
        if "\x00" in model or any(c in model for c in "\n\r\t"):
            raise SpecError("the model path holds control characters")
        path = posixpath.normpath(model)
        if ".." in model.split("/"):  # through a link, `link/..` is not where it reads
            raise SpecError(f"`{model[:80]}` is not under a model root: give it without `..`")
        roots = [os.path.realpath(r) for r in roots]
        if not roots:
            raise SpecError(
                "model paths are not allowed here: no model roots are configured "
                "(ONCALL_MODEL_ROOTS on the bot, --model-root on the agent)"
            )
        real = os.path.realpath(model)
        if not _under(real, roots):
            if _under(path, roots):
                raise SpecError(
                    f"`{path}` is or goes through a link to `{real}`, outside the model roots "
                    f"({', '.join(roots)})"
                )
            raise SpecError(f"`{path}` is not under a model root ({', '.join(roots)})")
        return real if resolve else path
    if _HUB_NAME.fullmatch(model) is None or ".." in model:
        raise SpecError(f"`{model[:80]}` is neither a model name (org/name) nor an absolute path")
    return model


def check_labels(labels: Iterable[str]) -> tuple[str, ...]:
    out = tuple(labels)
    for label in out:
        if _LABEL.fullmatch(label) is None:
            raise SpecError(f"`{label[:60]}` is not a host name or label")
    return out


def check(
    spec: JobSpec,
    model_roots: Iterable[str] = (),
    strict_paths: bool = True,
    remote_code: bool = False,
) -> JobSpec:
    """The spec, canonical, or SpecError. `strict_paths=False` (the bot, which cannot see
    the hosts' disks) lets any absolute path through when no roots are configured."""
    roots = list(model_roots)
    if roots or strict_paths or not spec.model.startswith("/"):
        model = check_model(spec.model, roots, resolve=strict_paths)
    else:
        model = check_model(spec.model, ["/"], resolve=False)
    fallback = spec.fallback
    if spec.playbook == "fallback":
        if not fallback:
            raise SpecError("say which fallback: " + ", ".join(sorted(FALLBACKS)))
        find_fallback(fallback)
    elif fallback:
        raise SpecError("a fallback goes with the fallback playbook only")
    return spec.model_copy(
        update={
            "model": model,
            "args": check_args(spec.args, remote_code),
            "env": check_env(spec.env),
            "labels": check_labels(spec.labels),
        }
    )


def launch_plan(spec: JobSpec) -> tuple[tuple[str, ...], dict[str, str], Fallback | None]:
    """Serve arguments and env of the run: the job's own, plus eager or the fallback's."""
    args, env = list(spec.args), dict(spec.env)
    fallback = None
    if spec.playbook == "eager" and "--enforce-eager" not in args:
        args.append("--enforce-eager")
    if spec.playbook == "fallback" and spec.fallback:
        fallback, value = find_fallback(spec.fallback)
        args, env = fallback.apply(args, env, value)
    return tuple(args), env, fallback
