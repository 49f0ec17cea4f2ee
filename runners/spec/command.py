"""The chat command grammar of a job: `/smoke <model> [--vl] [--tp N] [--env K=V] [serve
args...] [on <host or label>]` and its kin, read into a `JobSpec` that then passes every
rule in `runners.spec.job`. Splitting only: nothing here runs a shell."""

from __future__ import annotations

import shlex

from runners.errors import SpecError
from runners.spec.fallbacks import FALLBACKS, find_fallback
from runners.spec.job import JobSpec, Playbook, check

# Chat clients turn typed quotes and `--` into curly quotes and dashes.
_QUOTES = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2014": "--", "\u2013": "--"}
)


def parse_command(playbook: Playbook, text: str, remote_code: bool = False) -> JobSpec:
    """`/smoke <model> [--vl] [--tp N] [--env K=V] [serve args...] [on <host or label>]`,
    `/fallback <name[=value]> <model> ...`; a chat client's curly quotes and dashes are undone."""
    try:
        words = shlex.split(text.translate(_QUOTES))  # splitting only: nothing runs a shell
    except ValueError as exc:
        raise SpecError(f"cannot read the arguments: {exc}") from exc
    labels: list[str] = []
    if len(words) >= 2 and words[-2] == "on":
        labels = [w for w in words[-1].split(",") if w]
        words = words[:-2]
    fallback = None
    if playbook == "fallback":
        if not words:
            raise SpecError(usage(playbook))
        fallback, words = words[0], words[1:]
        find_fallback(fallback)
    if not words or words[0].startswith("-"):
        raise SpecError(usage(playbook))
    model, rest = words[0], words[1:]
    vl, no_doctor, golden, probe_max_len, env, args = False, False, False, False, {}, []
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "--vl":
            vl = True
        elif word == "--no-doctor":
            no_doctor = True
        elif word == "--probe-max-len":
            probe_max_len = True
        elif word == "--record-golden":
            golden = True
        elif word == "--env" and i + 1 < len(rest):
            name, eq, value = rest[i + 1].partition("=")
            if not eq:
                raise SpecError("--env takes NAME=VALUE")
            env[name] = value
            i += 1
        else:
            args.append(word)
        i += 1
    return check(
        JobSpec(
            playbook=playbook,
            model=model,
            vl=vl,
            fallback=fallback,
            args=tuple(args),
            env=env,
            labels=tuple(labels),
            no_doctor=no_doctor,
            record_golden=golden,
            probe_max_len=probe_max_len,
        ),
        strict_paths=False,
        remote_code=remote_code,
    )


def usage(playbook: Playbook) -> str:
    if playbook == "doctor":
        return "/doctor <model folder> [--tp N] [--max-model-len N] [serve args...] [on <label>]"
    head = "/fallback <name[=value]> " if playbook == "fallback" else f"/{playbook} "
    text = head + "<model> [--vl] [--tp N] [--env NAME=VALUE] [--no-doctor] [--record-golden]"
    text += " [serve args...]"
    text += " [on <host or label>]"
    if playbook == "fallback":
        text += "\nfallbacks: " + "; ".join(f.describe() for f in FALLBACKS.values())
    return text
