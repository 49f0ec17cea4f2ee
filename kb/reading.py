"""Read clean log lines for what failed first.

Python tracebacks put the exception last; torch_npu and CANN put `... error code is N`
first, then ERRxxxxx / EZ9999-style lines and a CANN `TraceBack`; vLLM wraps the cause in
`EngineDeadError`, `Engine core initialization failed. See root cause above` or
`Worker failed with error '<X>'`. The reader gives each line a role (`kb.roles`), fixes
what only position tells (the source line under a frame, `logger.exception`'s message),
picks the first line that is a cause rather than a wrapper, and adds the facts the text
alone does not say (`kb.facts`: `@first-request-crash`, `@capture-died`, ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kb.facts import import_origin, log_facts
from kb.logtext import LogLine, normalise
from kb.roles import (
    ERROR_LEVELS,
    EXCEPTION,
    FRAME,
    TRACEBACK,
    Role,
    mark_cann_traces,
    role_of,
    unwrapped,
)

_SHORT_MESSAGE = 20  # characters: shorter exception messages get the failing source line
_TRANSFORMERS_IMPORT = re.compile(
    r"cannot import name '?\w+'? from '?transformers\b|No module named '?transformers\."
)

# vLLM inspects a model's class in a subprocess (model_executor/models/registry.py,
# _run_in_subprocess): when that fails, the paste shows only that it failed, while why
# (an import, a package, transformers' version) is in the subprocess's own output.
_INSPECTION = re.compile(r"Error in inspecting model architecture|failed to be inspected")
_INSPECTION_CAUSE = re.compile(
    r"CalledProcessError|failed to be inspected|Error in inspecting|Error raised in subprocess"
)

# vLLM's config checks refusing the user's own value before anything loads: near misses
# of an entry (a TP size that does not divide the heads is not the QK-norm shape mismatch;
# a max_model_len above the config's is not a config maximum that fails at run time), which
# real threads label both ways. The answer names the entry and says what to change.
_CONFIG_REFUSALS = {
    "@heads-tp-check": re.compile(
        r"attention heads(?: \(\d{1,9}\))? must be divisible by (?:the )?tensor parallel size",
        re.IGNORECASE,
    ),
    "@maxlen-over-config": re.compile(
        r"User-specified max_model_len(?: \(\d{1,12}\))? is greater than the derived max_model_len"
    ),
}

_PACKAGE_ROOTS = ("vllm_ascend/", "vllm/", "torch_npu/", "torch/", "transformers/")


@dataclass(frozen=True)
class Reading:
    lines: tuple[LogLine, ...]
    roles: tuple[Role, ...]
    texts: tuple[str, ...]  # line text as matched: frames gain their dotted name
    cause: int | None  # index into lines of the root-cause line
    signature: str | None  # the root-cause message, unwrapped
    facts: frozenset[str]
    partial: bool  # the paste stops inside a traceback: its last lines are missing

    @property
    def only_wrappers(self) -> bool:
        return self.cause is None and Role.WRAPPER in self.roles

    @property
    def names_no_error(self) -> bool:
        """Something failed (frames, wrappers), but no line says what: no exception, no code."""
        return self.has_errors and not any(r >= Role.WEAK for r in self.roles)

    @property
    def has_errors(self) -> bool:
        """Anything in the paste says something failed (a cause, a wrapper, a traceback)."""
        return any(r >= Role.FRAME or r is Role.WRAPPER for r in self.roles)


def _dotted(path: str, func: str | None) -> str:
    for root in _PACKAGE_ROOTS:
        at = path.rfind("/" + root)
        if at >= 0 or path.startswith(root):
            module = path[at + 1 :] if at >= 0 else path
            name = module.removesuffix(".py").replace("/", ".")
            return f"{name}.{func}" if func else name
    return ""


# Builtin exceptions whose message alone does not say what failed: the frame above does.
_NEEDS_FRAME = re.compile(
    r"^\s*(?:AssertionError|AttributeError|KeyError|IndexError|TypeError|NotImplementedError)\b"
)
_FRAMES_BACK = 8
_FRAME_TAIL = re.compile(r'(?P<path>[\w./-]{1,300}\.py)", line \d+, in (?P<func>[\w<>.]{1,100})')


def _frame_context(lines: Sequence[LogLine], roles: Sequence[Role], at: int) -> tuple[str, str]:
    """The source line and the dotted function of the innermost frame above line `at`.

    Pastes often lose a frame's `File "` (a cut copy) or its role (chat around it), so
    position is what tells: the code line just above the exception, the frame above that."""
    source = where = ""
    for i in range(at - 1, max(-1, at - 1 - _FRAMES_BACK), -1):
        text = lines[i].text
        frame = FRAME.match(text) or _FRAME_TAIL.search(text)
        if frame:
            where = _dotted(frame.group("path"), frame.group("func")) or (frame.group("func") or "")
            break
        if roles[i] not in (Role.FRAME, Role.CONTEXT) or not text.strip(" ^~"):
            continue
        if not source:
            source = text.strip()
        elif roles[i] is not Role.FRAME:
            break  # two plain lines above the exception: prose, not a traceback
    return source, where


def _is_partial(roles: Sequence[Role], lines: Sequence[LogLine]) -> bool:
    """A traceback whose frames run to the end of the paste with no exception after them."""
    last_frame = max((i for i, r in enumerate(roles) if r is Role.FRAME), default=None)
    if last_frame is None:
        return False
    tail = range(last_frame + 1, len(lines))
    return not any(roles[i] in (Role.CAUSE, Role.WEAK, Role.WRAPPER) for i in tail)


def _inspection_unexplained(lines: Sequence[LogLine], roles: Sequence[Role]) -> bool:
    """The model's inspection failed, and no error line says why (the subprocess's own)."""
    causes = [ln.text for ln, r in zip(lines, roles, strict=True) if r is Role.CAUSE]
    return (
        bool(causes)
        and all(_INSPECTION_CAUSE.search(c[:2000]) for c in causes)
        and any(_INSPECTION.search(ln.text[:2000]) for ln in lines)
    )


def read(lines: Sequence[LogLine]) -> Reading:
    roles = [role_of(ln) for ln in lines]
    for i in range(1, len(roles)):
        # The source line under a `File "...", line N` frame belongs to the traceback (log
        # prefixes took its indent away, so position is what tells).
        if roles[i] in (Role.CONTEXT, Role.INPUT) and FRAME.match(lines[i - 1].text):
            roles[i] = Role.FRAME
    for i in range(len(roles) - 1):
        # `logger.exception(e)` prints the exception's message on an ERROR line, then its
        # traceback: that line is the error even in words no pattern knows.
        if (
            roles[i] is Role.CONTEXT
            and lines[i].level in ERROR_LEVELS
            and TRACEBACK.match(lines[i + 1].text)
        ):
            roles[i] = Role.WEAK
    mark_cann_traces(lines, roles)
    texts = []
    for ln in lines:
        frame = FRAME.match(ln.text)
        dotted = _dotted(frame.group("path"), frame.group("func")) if frame else ""
        texts.append(f"{ln.text} {dotted}" if dotted else ln.text)
    # A wrapper is never the root cause: with only wrappers, the cause was not pasted.
    cause = None
    for wanted in (Role.CAUSE, Role.WEAK):
        cause = next((i for i, r in enumerate(roles) if r is wanted), None)
        if cause is not None:
            break
    signature = unwrapped(lines[cause].text) if cause is not None else None
    facts = log_facts(lines, roles)
    if cause is not None and signature is not None:
        source, where = _frame_context(lines, roles, cause)
        message = signature.split(":", 1)[1].strip() if ":" in signature else ""
        exc = EXCEPTION.match(signature)
        if (
            exc
            and (_NEEDS_FRAME.match(signature) or len(message) < _SHORT_MESSAGE)
            and (source or where)
        ):
            # `AssertionError` alone says nothing; `assert n % tp_size == 0` in qwen3 does.
            context = " ".join(x for x in (source, f"in {where}" if where else "") if x)
            texts[cause] = f"{texts[cause]} {context}"
            if len(message) < _SHORT_MESSAGE:
                signature = f"{signature} (at {context})"
        if _TRANSFORMERS_IMPORT.search(signature):
            facts.add(import_origin(where, lines))
        if _inspection_unexplained(lines, roles):
            facts.add("@inspection-failed")
        facts.update(f for f, check in _CONFIG_REFUSALS.items() if check.search(signature[:2000]))
    return Reading(
        lines=tuple(lines),
        roles=tuple(roles),
        texts=tuple(texts),
        cause=cause,
        signature=signature,
        facts=frozenset(facts),
        partial=_is_partial(roles, lines),
    )


_MODEL_IN_LOG = re.compile(
    r"vllm serve\s+(?:--model\s+)?([^\s'\"-][^\s'\"]*)|model='([^']+)'|\"model\":\s*\"([^\"]+)\""
)
_MODELS_READ = 500_000  # characters: the command line and the engine config come first


def models_in_log(text: str) -> tuple[str, ...]:
    """The models a pasted log names as served (`vllm serve X`, `model='X'`), in order.
    Names only: whether one may be launched is the runner's rule, not the reader's."""
    return tuple(
        next(g for g in found.groups() if g)
        for found in _MODEL_IN_LOG.finditer(text[:_MODELS_READ])
    )


def root_cause(log_text: str, before: int = 3, after: int = 12) -> tuple[str, list[str]] | None:
    """The first root-cause line of a log (wrappers skipped) and the lines around it."""
    lines = normalise(log_text).lines
    reading = read(lines)
    if reading.cause is None or reading.signature is None:
        return None
    lo, hi = max(0, reading.cause - before), reading.cause + after
    return reading.signature, [ln.text for ln in lines[lo:hi]]
