"""What the smoke's deterministic probes got back and what the answer checks made of it,
as values that travel as JSON (in `RunResult.answers`), and the judgement over them. Pure:
the requests are in `runners.run.probes`.

A run fails on output quality only when every failing probe got HTTP 200: a 5xx or no
answer is the server failing, which the first-error path already reads from the log. Or
when its replies differ from the known-good run's on the same config (`runners.replies.golden`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

from runners.run.answer_checks import Check
from runners.run.comparisons import Comparison

QUALITY = "output quality"
TEMPLATE_MISMATCH = "template mismatch"
NO_TEMPLATE = "no chat template"
SHOWN_CHARS = 2000  # of a reply, in the result: enough to see the shape, bounded for a chat message
# The reader's fact for generated text that is not an answer: kb reads it as the runbook's
# "API reachable but output quality odd" entry.
BAD_ANSWER_FACT = "@garbled-output"
# Shapes that random text (dummy weights) may have: they do not decide an unjudged run.
JUDGED_ONLY = frozenset({"artifacts", "repetition", "truncated"})


class CheckOutcome(BaseModel):
    name: str  # "empty" | "artifacts" | "repetition" | "truncated" | "encoding"
    ok: bool
    detail: str = ""
    ratio: float | None = None

    @classmethod
    def of(cls, check: Check) -> CheckOutcome:
        return cls(name=check.name, ok=check.ok, detail=check.detail, ratio=check.ratio)


class ProbeAnswer(BaseModel):
    """One deterministic request (temperature 0, seed 0, bounded max_tokens) and its reply."""

    probe: str  # "one-word" | "echo" | "arithmetic" | "image"
    endpoint: str  # "chat" | "completions"
    prompt: str
    max_tokens: int
    http_status: int | None = None
    reply: str = ""  # cut to SHOWN_CHARS
    cut_chars: int = 0  # how much of the reply was left out of `reply`
    finish_reason: str | None = None
    completion_tokens: int = 0
    error: str | None = None  # no usable reply: the status line or body, bounded
    checks: list[CheckOutcome] = Field(default_factory=list)
    # Asked only to compare endpoints (the chat prompt through /v1/completions): it does
    # not fail the run alone.
    reference: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and all(c.ok for c in self.checks)

    @property
    def answered(self) -> bool:
        """The server said 200: whatever is wrong is in what it said."""
        return self.http_status == 200

    def failures(self) -> list[str]:
        if self.error is not None:
            return [self.error]
        return [c.detail or c.name for c in self.checks if not c.ok]


class AnswerReport(BaseModel):
    probes: list[ProbeAnswer] = Field(default_factory=list)
    findings: list[str] = Field(default_factory=list)  # "template mismatch: ...", notes
    judged: bool = True
    not_judged: str = ""  # why the checks did not decide the run ("dummy weights ...")
    chat_template: bool | None = None  # None: not known
    # What identifies the checkpoint the replies came from (`runners.run.revision`), and the
    # replies beside the known-good run's and the other mode's (`runners.replies.golden`).
    revision: str = ""
    comparisons: list[Comparison] = Field(default_factory=list)

    @property
    def failing(self) -> list[ProbeAnswer]:
        """Probes with a failed check or no usable reply (the endpoint reference aside)."""
        return [p for p in self.probes if not p.ok and not p.reference]

    @property
    def blocking(self) -> list[ProbeAnswer]:
        """The failing probes that fail the run: all of them when judged; else only those
        with no answer at all (empty, not JSON, not UTF-8), which no model should give."""
        return [
            p
            for p in self.failing
            if self.judged
            or p.error is not None
            or any(not c.ok and c.name not in JUDGED_ONLY for c in p.checks)
        ]

    @property
    def failed(self) -> bool:
        """The run fails on output quality: a template mismatch, or blocking failures
        where every such probe was answered with HTTP 200."""
        blocking = self.blocking
        mismatch = self.judged and self.template_mismatch
        answered = bool(blocking) and all(p.answered for p in blocking)
        return mismatch or answered or self.differs_from_known_good is not None

    @property
    def differs_from_known_good(self) -> Comparison | None:
        """The comparison that fails the run: the same checkpoint, flags and versions as
        the known-good run, and other replies at temperature 0."""
        return next((c for c in self.comparisons if c.fails), None)

    @property
    def template_mismatch(self) -> bool:
        return any(f.startswith(TEMPLATE_MISMATCH) for f in self.findings)

    def summary(self) -> str:
        """One line for the verdict: the first failing probe's first failure."""
        if self.judged and self.template_mismatch:
            return f"{TEMPLATE_MISMATCH}: chat fails, /v1/completions of the same prompt is clean"
        if not self.blocking and (differs := self.differs_from_known_good) is not None:
            first = differs.diffs[0]
            return f"{differs.headline()}: {first.probe} ({first.endpoint})"
        probe = next(iter(self.blocking or self.failing), None)
        if probe is None:
            return "every answer check passed"
        return f"{probe.probe} ({probe.endpoint}): {probe.failures()[0]}"

    def evidence(self) -> list[str]:
        """The lines the first error quotes and the triage reads: the failing prompts,
        replies and check outcomes, each bounded."""
        differs = self.differs_from_known_good
        if differs is not None and not self.blocking:
            lines = [f"{QUALITY}: {differs.headline()}"[:300]]
            for diff in differs.diffs:
                lines.append(f"{diff.endpoint} prompt: {diff.prompt}"[:300])
                lines.append(f"{differs.then_label}: {diff.then!r}"[:300])
                lines.append(f"{differs.now_label}: {diff.now!r}"[:300])
            return lines
        lines = [f"{QUALITY}: HTTP 200 but the reply is not an answer: {self.summary()}"]
        for probe in self.blocking or self.failing:
            lines.append(f"{probe.endpoint} prompt: {probe.prompt}"[:300])
            lines.append(f"{probe.endpoint} content: {probe.reply!r}"[:300])
            said = "no answer" if probe.error is not None else "check failed"
            lines += [f"{said}: {why}"[:300] for why in probe.failures()]
        return lines


def agreement(chat: ProbeAnswer, completions: ProbeAnswer) -> list[str]:
    """The runbook's action 2: the same prompt through both endpoints. A chat reply that
    fails while the raw completion of the same prompt is clean points at the template."""
    if chat.ok or not completions.ok:
        return []
    why = "; ".join(chat.failures())[:300]
    return [
        f"{TEMPLATE_MISMATCH}: /v1/chat/completions fails ({why}) while /v1/completions "
        "answers the same prompt cleanly: check that the chat template matches the model "
        "(runbook: verify the endpoint matches the model template)"
    ]


def judge(
    probes: Sequence[ProbeAnswer],
    findings: Iterable[str] = (),
    dummy_weights: bool = False,
    chat_template: bool | None = None,
) -> AnswerReport:
    """The report over the probes: the endpoint agreement finding and, for a server on
    dummy weights (random text by design), checks shown but not deciding the run."""
    found = list(findings)
    by_key = {(p.probe, p.endpoint): p for p in probes}
    chat, plain = by_key.get(("one-word", "chat")), by_key.get(("one-word", "completions"))
    if chat is not None and plain is not None:
        found += agreement(chat, plain)
    report = AnswerReport(probes=list(probes), findings=found, chat_template=chat_template)
    if dummy_weights:
        report.judged = False
        report.not_judged = (
            "not judged: dummy weights (--load-format dummy) answer random text by design; "
            "the checks are shown, the run is not failed on them"
        )
    return report
