"""The smoke's deterministic probes, asked of a ready server after its first reply: an
echo, a small sum and a one-word instruction (temperature 0, seed 0, 16 tokens), and the
one-word prompt again through /v1/completions for the runbook's endpoint check. Each
reply goes through the answer checks; `answer_report.judge` makes the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from runners.run import smoke
from runners.run.answer_checks import Check, check_reply, read_model_tokens
from runners.run.answer_report import NO_TEMPLATE, AnswerReport, CheckOutcome, ProbeAnswer, judge

# (name, prompt): the one-word probe is the smoke's first request, already answered.
PROBES: tuple[tuple[str, str], ...] = (
    ("one-word", smoke.TEXT_PROMPT),
    ("echo", "Repeat exactly these three words and nothing else: blue river stone"),
    ("arithmetic", "What is 17 + 25? Answer with the number only."),
)


def answer(
    probe: str, prompt: str, reply: smoke.Reply, tokens: frozenset[str], reference: bool = False
) -> ProbeAnswer:
    """One reply as the report shows it, with its checks (none when there was no 200
    reply to check: the error says why). Pure."""
    checks: list[Check] = []
    parsed = reply.http_status == 200 and reply.error in (None, smoke.EMPTY)
    if parsed:
        checks = list(
            check_reply(
                reply.content,
                reply.finish_reason,
                reply.completion_tokens,
                reply.max_tokens,
                tokens,
            )
        )
    if reply.non_utf8:
        checks.append(Check("encoding", False, "the reply held bytes that are not UTF-8"))
    # An empty reply is reported by its check, not as a missing answer.
    error = None if parsed else reply.error
    shown = reply.content[: smoke.BODY_CHARS]
    return ProbeAnswer(
        probe=probe,
        endpoint=reply.endpoint,
        prompt=prompt,
        max_tokens=reply.max_tokens,
        http_status=reply.http_status,
        reply=shown,
        cut_chars=max(reply.content_chars - len(shown), 0),
        finish_reason=reply.finish_reason,
        completion_tokens=reply.completion_tokens,
        error=error,
        checks=[CheckOutcome.of(c) for c in checks],
        reference=reference,
    )


def dummy_weights(argv: Sequence[str]) -> bool:
    """`--load-format dummy`: random weights, whose text no check can judge."""
    return any(
        a == "--load-format=dummy" or (a == "--load-format" and b == "dummy")
        for a, b in zip(argv, [*argv[1:], ""], strict=True)
    )


def ask_all(
    client: httpx.Client,
    base: str,
    served: str,
    model: str,
    argv: Sequence[str],
    first: smoke.Reply,
    image: smoke.Reply | None,
    timeout_s: float,
) -> AnswerReport:
    """Ask the remaining probes the way the first request was asked (chat, or completions
    for a model without a chat template), plus the endpoint check, and judge them all."""
    known = read_model_tokens(model)
    chat = first.endpoint == "chat"
    findings: list[str] = []
    if not chat:
        findings.append(
            f"{NO_TEMPLATE}: the chat API refused (the model defines no chat template); "
            "judged through /v1/completions only"
        )
    answers = [answer("one-word", smoke.TEXT_PROMPT, first, known.tokens)]
    for name, prompt in PROBES[1:]:
        reply = smoke.generate(client, base, served, prompt, smoke.TEXT_TOKENS, timeout_s, chat)
        answers.append(answer(name, prompt, reply, known.tokens))
    if chat:
        plain = smoke.generate(
            client, base, served, smoke.TEXT_PROMPT, smoke.TEXT_TOKENS, timeout_s, chat=False
        )
        # Only compared with the chat reply: a base completion may ramble and still be fine.
        answers.append(answer("one-word", smoke.TEXT_PROMPT, plain, known.tokens, reference=True))
    if image is not None:
        answers.append(answer("image", smoke.IMAGE_PROMPT, image, known.tokens))
    template = False if not chat else known.chat_template
    return judge(answers, findings, dummy_weights(argv), template)
