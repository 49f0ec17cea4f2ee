"""Is a 200 reply an answer? Pure checks over one reply's text, for the failure the runbook
calls "API reachable but output quality odd": nothing at all, chat-template or special-token
artifacts, one token or character repeated through the reply, a reply cut after a token or
two.

The checks look for these defined shapes, never for sense: random text from a model with
dummy weights passes them unless it has one of the shapes (and then the playbook says the
reply was not judged). Every regex here is linear; the text is cut to `CHECKED_CHARS`
before any check reads it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKED_CHARS = 8192  # a 1 MB reply is cut to this before checking: the shapes show early
CONFIG_BYTES = 8 * 1024 * 1024  # tokenizer_config.json with many added tokens stays under this

# Special tokens of common model families: turn markers and end-of-text tokens that a
# correct chat template and detokeniser never leave in the content.
COMMON_TOKENS: frozenset[str] = frozenset(
    {
        "<|im_start|>", "<|im_end|>", "<|endoftext|>",  # ChatML: Qwen, Yi, many fine-tunes
        "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>",  # Llama 3
        "<|start_header_id|>", "<|end_header_id|>",
        "<s>", "</s>", "[INST]", "[/INST]", "<<SYS>>",  # Llama 2, Mistral
        "<|user|>", "<|assistant|>", "<|system|>", "<|end|>",  # Phi-3, Zephyr
        "<start_of_turn>", "<end_of_turn>",  # Gemma
        "[gMASK]", "<sop>", "<|observation|>",  # GLM
        "<\uff5cbegin\u2581of\u2581sentence\uff5c>",  # DeepSeek (fullwidth bars)
        "<\uff5cend\u2581of\u2581sentence\uff5c>",
        "<\uff5cUser\uff5c>", "<\uff5cAssistant\uff5c>",
        "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
    }
)  # fmt: skip

# A model's own token is reported only when it looks like markup: added tokens can be
# plain words or single characters, which any answer may hold.
_MARKUP = re.compile("^[<\\[\uff5c].{1,62}[>\\]\uff5c]$", re.DOTALL)

# Units for repetition: one CJK character each (those scripts have no spaces between
# words), a run of other letters or digits, or any other single non-space character.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_UNIT = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]")

MAX_PERIOD = 24  # longest repeated n-gram looked for, in units (a looped sentence)
MIN_UNITS = 8  # shorter replies ("Paris", "5") are never called repetitive
MIN_REPEATS = 4  # a phrase said twice or three times is emphasis, not a loop
REPEAT_SHARE = 0.6  # the repeated run covers this much of the reply or more
FEW_TOKENS = 2  # "cut at one or two tokens"
FAR_BELOW = 4  # ...when max_tokens was at least this many times more


@dataclass(frozen=True)
class Check:
    """One check's outcome; `detail` is the evidence in words, `ratio` what was measured."""

    name: str  # "empty" | "artifacts" | "repetition" | "truncated"
    ok: bool
    detail: str = ""
    ratio: float | None = None


def cut(text: str) -> str:
    return text[:CHECKED_CHARS]


def check_empty(text: str) -> Check:
    if text.strip():
        return Check("empty", True)
    what = "empty" if not text else f"only whitespace ({len(text)} characters)"
    return Check("empty", False, f"the reply is {what}")


def check_artifacts(text: str, tokens: Iterable[str] = ()) -> Check:
    """Special tokens or chat-template markers in the content: `tokens` are the model's
    own (see `special_tokens`), added to the common families."""
    text = cut(text)
    found = sorted(t for t in COMMON_TOKENS.union(tokens) if t and t in text)
    if not found:
        return Check("artifacts", True)
    shown = ", ".join(found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")
    return Check("artifacts", False, f"special tokens in the reply: {shown}")


def _units(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Word-level units and their spans in `text`."""
    found = list(_UNIT.finditer(text))
    return [m.group() for m in found], [m.span() for m in found]


def _chars(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Non-space characters and their spans: a loop of symbols or of one letter."""
    at = [i for i, ch in enumerate(text) if not ch.isspace()]
    return [text[i] for i in at], [(i, i + 1) for i in at]


def _longest_repeat(seq: list[str]) -> tuple[int, int, int]:
    """(units covered, period, start) of the longest stretch of `seq` that repeats one
    n-gram back to back (n up to MAX_PERIOD), counted as a whole number of repeats:
    O(MAX_PERIOD * len(seq))."""
    best = (0, 0, 0)
    for period in range(1, MAX_PERIOD + 1):
        run = 0
        for i in range(period, len(seq)):
            run = run + 1 if seq[i] == seq[i - period] else 0
            covered = (run + period) // period * period  # whole repeats only
            if run and covered // period >= MIN_REPEATS and covered > best[0]:
                best = (covered, period, i + 1 - covered)
    return best


def check_repetition(text: str) -> Check:
    """One n-gram (of words, CJK characters or symbols) or one run of characters repeated
    back to back over most of the reply: the ratio is the share of the reply it covers."""
    text = cut(text)
    findings: list[tuple[float, str]] = []
    for (seq, spans), by_chars in ((_units(text), False), (_chars(text), True)):
        if len(seq) < MIN_UNITS:
            continue
        covered, period, start = _longest_repeat(seq)
        if not covered:
            continue
        ratio = covered / len(seq)
        gram = text[spans[start][0] : spans[start + period - 1][1]]
        gram = gram if len(gram) <= 40 else gram[:40] + "..."
        if by_chars:
            label = "character" if period == 1 else f"{period}-character sequence"
        else:
            label = "token" if period == 1 else f"{period}-gram"
        times = covered // period
        findings.append((ratio, f"{label} {gram!r} repeated {times} times covers {ratio:.0%}"))
    if not findings:
        return Check("repetition", True, ratio=0.0)
    ratio, detail = max(findings, key=lambda found: found[0])  # words first on a tie
    if ratio < REPEAT_SHARE:
        return Check("repetition", True, f"longest repeat covers {ratio:.0%}", round(ratio, 3))
    return Check("repetition", False, f"{detail} of the reply", round(ratio, 3))


def check_truncated(finish_reason: str | None, completion_tokens: int, max_tokens: int) -> Check:
    """Stopped for length after a token or two when far more were allowed: the server's
    length limit, not the model, ended the answer."""
    cut_short = (
        finish_reason == "length"
        and 0 < completion_tokens <= FEW_TOKENS
        and max_tokens >= FAR_BELOW * completion_tokens
    )
    if not cut_short:
        return Check("truncated", True)
    return Check(
        "truncated",
        False,
        f"finish_reason 'length' after {completion_tokens} token(s) of max_tokens {max_tokens}",
    )


def check_reply(
    text: str,
    finish_reason: str | None,
    completion_tokens: int,
    max_tokens: int,
    tokens: Iterable[str] = (),
) -> tuple[Check, ...]:
    """Every check, in the order the verdict lists them."""
    return (
        check_empty(text),
        check_artifacts(text, tokens),
        check_repetition(text),
        check_truncated(finish_reason, completion_tokens, max_tokens),
    )


def _token_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("content"), str):
        return str(value["content"])
    return None


def special_tokens(config: Mapping[str, Any]) -> frozenset[str]:
    """The markup-like special tokens a `tokenizer_config.json` names: bos/eos/pad/unk,
    additional special tokens, and added tokens marked special."""
    found: list[str | None] = [
        _token_text(config.get(key)) for key in ("bos_token", "eos_token", "pad_token", "unk_token")
    ]
    extra = config.get("additional_special_tokens")
    found += [_token_text(t) for t in extra] if isinstance(extra, list) else []
    added = config.get("added_tokens_decoder")
    if isinstance(added, Mapping):
        found += [
            _token_text(t) for t in added.values() if isinstance(t, Mapping) and t.get("special")
        ]
    return frozenset(t for t in found if t and _MARKUP.match(t))


@dataclass(frozen=True)
class ModelTokens:
    """What a local model folder says about its chat template and special tokens."""

    tokens: frozenset[str] = frozenset()
    chat_template: bool | None = None  # None: not known (a hub name, or no readable config)


def read_model_tokens(model: str) -> ModelTokens:
    """The model's own special tokens and whether it has a chat template, from its folder
    (`tokenizer_config.json`, `chat_template.jinja`); nothing known for a hub name or an
    unreadable file (the common families still apply)."""
    folder = Path(model)
    if not model.startswith("/") or not folder.is_dir():
        return ModelTokens()
    template_file = any(
        (folder / n).is_file() for n in ("chat_template.jinja", "chat_template.json")
    )
    try:
        with (folder / "tokenizer_config.json").open("rb") as f:
            raw = f.read(CONFIG_BYTES + 1)
        config = json.loads(raw) if len(raw) <= CONFIG_BYTES else None
    except (OSError, ValueError):
        config = None
    if not isinstance(config, dict):
        return ModelTokens(chat_template=True if template_file else None)
    return ModelTokens(special_tokens(config), template_file or bool(config.get("chat_template")))
