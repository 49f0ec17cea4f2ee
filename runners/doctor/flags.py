"""The serve arguments and environment a checkpoint will be started with, as far as the
checks care: TP size, max length, speculative decoding, remote code, load format."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runners.doctor.errors import ServeArgsError

_ALIASES = {"-tp": "--tensor-parallel-size", "--tp": "--tensor-parallel-size"}
_VALUED = frozenset(
    {"--tensor-parallel-size", "--max-model-len", "--speculative-config", "--load-format"}
)
SPEC_JSON_MAX = 10_000
TRUTHY = frozenset({"1", "true", "True", "TRUE", "yes", "on"})


@dataclass(frozen=True)
class Flags:
    tp: int = 1
    max_model_len: int | None = None
    speculative_method: str | None = None  # --speculative-config's "method"
    trust_remote_code: bool = False
    load_format: str = "auto"
    skip_tokenizer_init: bool = False
    allow_long_max_len: bool = False  # VLLM_ALLOW_LONG_MAX_MODEL_LEN=1
    flashcomm1: bool = False  # VLLM_ASCEND_ENABLE_FLASHCOMM1=1

    @property
    def mtp(self) -> bool:
        return self.speculative_method is not None and "mtp" in self.speculative_method

    @property
    def dummy_weights(self) -> bool:
        return self.load_format == "dummy"


def read_flags(
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    tp: int | None = None,
    max_model_len: int | None = None,
) -> Flags:
    """Flags from serve arguments (unknown ones are left alone: the doctor judges the
    checkpoint, not the command line); `tp` and `max_model_len` win over the arguments."""
    values: dict[str, str] = {}
    switches: set[str] = set()
    items = list(args)
    i = 0
    while i < len(items):
        word = items[i]
        flag, eq, inline = word.partition("=")
        flag = _ALIASES.get(flag, flag)
        if flag.startswith("--"):
            flag = "--" + flag[2:].replace("_", "-")
        if flag in _VALUED:
            if eq:
                values[flag] = inline
            elif i + 1 < len(items):
                values[flag] = items[i + 1]
                i += 1
            else:
                raise ServeArgsError(f"`{flag}` needs a value", flag)
        else:
            switches.add(flag)
        i += 1
    env = env or {}
    return Flags(
        tp=tp if tp is not None else _count(values, "--tensor-parallel-size", None) or 1,
        max_model_len=(
            max_model_len if max_model_len is not None else _count(values, "--max-model-len", None)
        ),
        speculative_method=_method(values.get("--speculative-config")),
        trust_remote_code="--trust-remote-code" in switches,
        load_format=values.get("--load-format", "auto"),
        skip_tokenizer_init="--skip-tokenizer-init" in switches,
        allow_long_max_len=env.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN", "") in TRUTHY,
        flashcomm1=env.get("VLLM_ASCEND_ENABLE_FLASHCOMM1", "") in TRUTHY,
    )


def _count(values: dict[str, str], flag: str, default: int | None) -> int | None:
    if flag not in values:
        return default
    text = values[flag]
    if not (text.isdigit() and 0 < len(text) <= 9 and int(text) > 0):
        raise ServeArgsError(f"`{flag}` takes a whole number above 0, not `{text[:40]}`", flag)
    return int(text)


def _method(text: str | None) -> str | None:
    if text is None:
        return None
    if len(text) > SPEC_JSON_MAX:
        raise ServeArgsError("`--speculative-config` is too long to be a config", text[:40])
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ServeArgsError(
            f"`--speculative-config` is not JSON: {str(exc)[:100]}", "--speculative-config"
        ) from exc
    method = value.get("method") if isinstance(value, dict) else None
    return str(method)[:60] if method else "unknown"
