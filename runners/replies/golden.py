"""Known-good replies and graph vs eager: a finished run's deterministic replies beside
those of the known-good run of the same checkpoint (`--record-golden`) and of the latest
run in the other mode with the same flags.

Where it runs: after the playbook, where the replies are kept. `ascend-oncall run` keeps
them in a file under its work folder; the coordinator in its database, when the agent's
result arrives (`settle`), so agents never touch the database and need no protocol change.

The policy, for what a person on call wants to read:
- Same checkpoint, same serve flags and env, same mode, same vLLM stack, temperature 0:
  the replies must be the same text. A difference fails the run ("output quality", the
  runbook's quality entry): something on the path is not deterministic or not right
  (graph capture, precision, a kernel). Unless the run itself records the known-good
  replies: `--record-golden` says "these are right now".
- Anything changed (dtype, quantization, any flag or env, graph vs eager, a package
  version): replies may legitimately move. The difference is shown with what changed,
  and judged by the answer checks alone.
- Graph vs eager with the same flags: "graph mode answers differently from eager at
  temperature 0" is its own finding, both replies side by side. It does not fail the run:
  which reply is right is not known from the two alone; a garbled one fails the answer
  checks anyway, and the ladder can prefer the config whose answers match eager.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from runners.errors import RepliesError
from runners.run.answer_report import BAD_ANSWER_FACT, QUALITY
from runners.run.comparisons import (
    GRAPH_VS_EAGER,
    KNOWN_GOOD,
    Comparison,
    KnownReply,
    diff_replies,
)
from runners.run.result import FirstError, RunResult
from runners.run.revision import REVISION, model_key
from runners.run.verdict import classify
from runners.spec.job import JobSpec, launch_plan
from runners.states import Status

Mode = Literal["graph", "eager"]
MOST_REPLIES = 8  # per run: the probes are four, five with an image
REPLY_CHARS = 2000  # as `answer_report.SHOWN_CHARS`; again here, as a result comes from an agent
PROMPT_CHARS = 300
VERSION_CHARS = 40
STACK = ("vllm", "vllm_ascend", "torch", "torch_npu", "transformers")  # decide the numerics
# Flags that name things, not numerics: the served name, and the revision (in the key).
NAMES = frozenset({"--served-model-name", "--revision"})


class ReplySet(BaseModel):
    """One run's deterministic replies, with what identifies the run's configuration."""

    model: str  # `revision.model_key`: a hub name, or a folder's name
    revision: str
    mode: Mode
    config: list[str]  # serve flags and env of the launch, mode and names aside
    versions: dict[str, str] = Field(default_factory=dict)
    recorded_at: datetime
    job_id: int | None = None
    run: str = Field(default_factory=lambda: uuid.uuid4().hex)
    replies: list[KnownReply]

    @property
    def config_key(self) -> str:
        """The same flags and env, whatever their order: a short key to file them by."""
        return hashlib.sha256(json.dumps(sorted(self.config)).encode()).hexdigest()[:32]

    def when(self) -> str:
        return self.recorded_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")

    def label(self) -> str:
        return f"{self.when()}" + (f" (job {self.job_id})" if self.job_id else "")


class ReplyBook(Protocol):
    """Where reply sets are kept: the coordinator's table, or `run`'s local file. Each
    method raises RepliesError when the store cannot be read or written."""

    def golden(self, model: str, revision: str) -> ReplySet | None: ...

    def latest(self, model: str, revision: str, mode: Mode, config_key: str) -> ReplySet | None:
        """The newest run in `mode` with that configuration."""
        ...

    def keep(self, replies: ReplySet, golden: bool) -> None:
        """File `replies` as the latest of its mode and config; also as the known-good
        replies of its checkpoint when `golden` (each replaces the one before)."""
        ...


def launch_config(spec: JobSpec) -> tuple[Mode, list[str]]:
    """(mode, flags and env) of the launch `spec` makes, as `vllm serve` gets them."""
    args, env, _ = launch_plan(spec)
    mode: Mode = "eager" if "--enforce-eager" in args else "graph"
    words: list[str] = []
    items = list(args)
    for i, word in enumerate(items):
        if not word.startswith("-"):
            continue  # a value, joined to its flag below
        value = items[i + 1] if i + 1 < len(items) and not items[i + 1].startswith("-") else ""
        if word != "--enforce-eager" and word not in NAMES:
            words.append(f"{word} {value}".strip())
    return mode, words + [f"{k}={v}" for k, v in sorted(env.items())]


def _versions(environment: dict[str, object]) -> dict[str, str]:
    packages = environment.get("packages")
    found: dict[str, str] = {}
    for name in STACK:
        entry = packages.get(name) if isinstance(packages, dict) else None
        version = entry.get("version") if isinstance(entry, dict) else None
        if isinstance(version, str) and version:
            found[name] = version[:VERSION_CHARS]
    return found


def reply_set(
    result: RunResult, spec: JobSpec, job_id: int | None = None, at: datetime | None = None
) -> ReplySet | None:
    """The run's deterministic replies (those answered with HTTP 200), bounded; None when
    it has none, or no revision to file them by. `spec` is the job as dispatched (the
    coordinator's copy, never the agent's word)."""
    report = result.answers
    if report is None or REVISION.fullmatch(report.revision) is None:
        return None
    replies = [
        KnownReply(
            probe=p.probe[:32],
            endpoint=p.endpoint[:16],
            prompt=p.prompt[:PROMPT_CHARS],
            reply=p.reply[:REPLY_CHARS],
            finish_reason=(p.finish_reason or "")[:16] or None,
            completion_tokens=max(0, min(p.completion_tokens, 10**6)),
        )
        for p in report.probes
        if p.error is None and p.http_status == 200
    ][:MOST_REPLIES]
    if not replies:
        return None
    mode, config = launch_config(spec)
    return ReplySet(
        model=model_key(spec.model)[:200],
        revision=report.revision,
        mode=mode,
        config=config,
        versions=_versions(result.environment),
        recorded_at=at or datetime.now(UTC),
        job_id=job_id,
        replies=replies,
    )


def _changes(then: ReplySet, now: ReplySet, then_name: str, mode: bool = True) -> list[str]:
    """What differs between two runs besides their replies, in words (`mode`: the graph or
    eager mode too)."""
    changed: list[str] = []
    if mode and then.mode != now.mode:
        changed.append(f"{now.mode} mode ({then_name}: {then.mode})")
    gone = [w for w in then.config if w not in now.config]
    added = [w for w in now.config if w not in then.config]
    if added or gone:
        was = " ".join(gone) or "none"
        changed.append(f"flags: {' '.join(added) or 'none'} ({then_name}: {was})")
    for name in sorted(set(then.versions) | set(now.versions)):
        old, new = then.versions.get(name), now.versions.get(name)
        if old and new and old != new:
            changed.append(f"{name} {new} ({then_name}: {old})")
    return changed


def known_good(golden: ReplySet, now: ReplySet, recording: bool) -> Comparison:
    matched, diffs = diff_replies(golden.replies, now.replies)
    changed = _changes(golden, now, "known-good")
    note = ""
    if recording and diffs:
        note = f"these replies replace the known-good ones of {golden.label()} (--record-golden)"
    return Comparison(
        kind=KNOWN_GOOD,
        against=f"the known-good run of {golden.label()}",
        then_label="known-good",
        now_label="now",
        matched=matched,
        diffs=diffs,
        changed=changed,
        fails=bool(diffs) and not changed and not recording,
        note=note,
    )


def graph_vs_eager(other: ReplySet, now: ReplySet, also_known_good: bool) -> Comparison:
    matched, diffs = diff_replies(other.replies, now.replies)
    known = ", the known-good run" if also_known_good else ""
    return Comparison(
        kind=GRAPH_VS_EAGER,
        against=f"the {other.mode} run of {other.label()}{known}",
        then_label=other.mode,
        now_label=now.mode,
        matched=matched,
        diffs=diffs,
        changed=_changes(other, now, other.mode, mode=False),
    )


def compare(current: ReplySet, book: ReplyBook, recording: bool) -> list[Comparison]:
    """This run beside the known-good run of its checkpoint and the latest run in the
    other mode with the same flags. The known-good comparison is left out when that run
    *is* the other mode's latest: graph vs eager says it, once."""
    golden = book.golden(current.model, current.revision)
    other_mode: Mode = "eager" if current.mode == "graph" else "graph"
    other = book.latest(current.model, current.revision, other_mode, current.config_key)
    found: list[Comparison] = []
    same_run = golden is not None and other is not None and golden.run == other.run
    if golden is not None and golden.run != current.run and not same_run:
        found.append(known_good(golden, current, recording))
    if other is not None and other.run != current.run:
        comparison = graph_vs_eager(other, current, same_run)
        if same_run and recording and comparison.differs:
            comparison.note = f"these replies replace the known-good ones of {other.label()}"
        found.append(comparison)
    return found


def settle(
    result: RunResult, spec: JobSpec, book: ReplyBook, job_id: int | None = None
) -> RunResult:
    """Compare the run's replies with the known-good and the other mode's, let a failing
    difference fail the run (module docstring), keep its replies for later runs, and say
    all of it in the result. A store that cannot be read is a note, never a lost verdict."""
    current = reply_set(result, spec, job_id)
    if (
        current is None
        or result.status not in (Status.PASSED, Status.FAILED)
        or result.answers is None
    ):
        if spec.record_golden:
            result.notes.append("no known-good replies recorded: the run has no replies to keep")
        return result
    report = result.answers
    try:
        report.comparisons = compare(current, book, spec.record_golden)
    except RepliesError as exc:
        result.notes.append(f"replies not compared with earlier runs: {exc}")
    was_passed = result.status is Status.PASSED
    if was_passed and report.differs_from_known_good is not None:
        result.status = Status.FAILED
        result.facts.append(BAD_ANSWER_FACT)
        result.first_error = FirstError(signature=QUALITY, lines=report.evidence())
        result.verdict, result.next = classify(result, result.log_tail)
    elif was_passed:
        moved = [c.headline() for c in report.comparisons if c.differs]
        result.verdict = "; ".join([result.verdict, *moved])
    golden = spec.record_golden and result.status is Status.PASSED
    try:
        book.keep(current, golden=golden)
    except RepliesError as exc:
        result.notes.append(f"replies not kept for later runs: {exc}")
        return result
    if golden:
        result.notes.append(
            f"known-good replies recorded for {current.model} at revision {current.revision}: "
            "later smokes of it are compared with them"
        )
    elif spec.record_golden:
        result.notes.append(f"no known-good replies recorded: the run {result.status}")
    return result
