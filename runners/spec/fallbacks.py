"""The runbook's named fallbacks: what each changes in a relaunch, and why.

A fallback is data: env it sets, serve flags it sets (replacing the job's own value of
the same flag). `max-model-len` takes its value from the person or from the error that
suggested it (`the estimated maximum model length is N`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from runners.errors import SpecError

TEXT_ONLY = '{"image":0,"video":0,"audio":0}'


@dataclass(frozen=True)
class Fallback:
    name: str
    reason: str
    entry_id: str  # the runbook entry that prescribes it
    env: dict[str, str] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)  # flag -> value ("" = placeholder)
    takes_value: str | None = None  # the flag whose value `name=VALUE` sets

    def describe(self) -> str:
        changes = [f"{k}={v}" for k, v in self.env.items()]
        changes += [f"{k} {v}" for k, v in self.flags.items()]
        changes += [f"{self.takes_value} N"] if self.takes_value else []
        shown = f"{self.name}=N" if self.takes_value else self.name
        return f"`{shown}` ({', '.join(changes)})"

    def apply(
        self, args: Sequence[str], env: dict[str, str], value: str | None = None
    ) -> tuple[list[str], dict[str, str]]:
        flags = dict(self.flags)
        if self.takes_value:
            if not value or not re.fullmatch(r"\d{1,9}", value):
                raise SpecError(f"`{self.name}` needs a whole number: `{self.name}=8192`")
            flags[self.takes_value] = value
        out = _without(args, flags)
        for flag, flag_value in flags.items():
            out += [flag, flag_value] if flag_value else [flag]
        return out, {**env, **self.env}


def _without(args: Sequence[str], flags: dict[str, str]) -> list[str]:
    """`args` less any flag the fallback sets (and that flag's value)."""
    out: list[str] = []
    skip = False
    for i, word in enumerate(args):
        if skip:
            skip = False
            continue
        if word in flags:
            nxt = args[i + 1] if i + 1 < len(args) else None
            skip = nxt is not None and not nxt.startswith("--")
            continue
        out.append(word)
    return out


FALLBACKS: dict[str, Fallback] = {
    f.name: f
    for f in (
        Fallback(
            "torchdynamo-disable",
            "VL + TorchDynamo contiguous failure: run with TorchDynamo off",
            "vl-torchdynamo-interpolate-contiguous-failure",
            env={"TORCHDYNAMO_DISABLE": "1"},
        ),
        Fallback(
            "hccl-aiv",
            "ACL graph capture (507903): HCCL collectives on the AI Vector cores",
            "acl-graph-capture-fails-507903",
            env={"HCCL_OP_EXPANSION_MODE": "AIV"},
        ),
        Fallback(
            "max-model-len",
            "less shape and KV-cache pressure: a shorter --max-model-len",
            "config-max-length-works-on-paper-but-not-in-runtime",
            takes_value="--max-model-len",
        ),
        Fallback(
            "text-only",
            "isolate the language model from the multimodal processor (not a fix)",
            "multimodal-processor-signature-mismatch-skip-tensor-conversion",
            flags={"--limit-mm-per-prompt": TEXT_ONLY},
        ),
    )
}


def find_fallback(text: str) -> tuple[Fallback, str | None]:
    """`name` or `name=value` -> the fallback and its value; SpecError for anything else."""
    name, _, value = text.partition("=")
    fallback = FALLBACKS.get(name)
    if fallback is None:
        known = ", ".join(f.describe() for f in FALLBACKS.values())
        raise SpecError(f"`{name[:40]}` is not a fallback; known: {known}")
    if value and not fallback.takes_value:
        raise SpecError(f"`{name}` takes no value")
    if fallback.takes_value and not re.fullmatch(r"\d{1,9}", value or ""):
        raise SpecError(f"`{name}` needs a whole number: `{name}=8192`")
    return fallback, value or None
