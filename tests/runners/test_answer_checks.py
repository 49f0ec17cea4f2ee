"""The answer checks over single replies: clean answers in several languages and code pass,
each broken shape fails with its evidence, and the measurements say how bad it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runners.run.answer_checks import (
    CHECKED_CHARS,
    check_artifacts,
    check_empty,
    check_repetition,
    check_reply,
    check_truncated,
    read_model_tokens,
    special_tokens,
)

CLEAN = [
    ("english", "The capital of France is Paris."),
    ("one word", "Paris"),
    ("number", "42"),
    ("chinese", "法国的首都是巴黎。巴黎是一座美丽的城市，有很多博物馆和历史建筑。"),  # noqa: RUF001
    ("japanese", "フランスの首都はパリです。美しい街で、美術館がたくさんあります。"),
    ("russian", "Столица Франции — Париж. Это большой и красивый город."),
    ("german", "Die Hauptstadt von Frankreich ist Paris, eine sehr große Stadt."),
    ("code", "def add(a: int, b: int) -> int:\n    return a + b\n\nprint(add(17, 25))\n"),
    ("list", "1. Paris\n2. Lyon\n3. Marseille\n4. Toulouse\n5. Nice"),
    ("emphasis", "No, no, no! It is Paris."),
    ("html strike", "Use <b>bold</b> for emphasis."),
]


@pytest.mark.parametrize(("what", "text"), CLEAN, ids=[c[0] for c in CLEAN])
def test_clean_replies_pass_every_check(what: str, text: str) -> None:
    checks = check_reply(text, "stop", 12, 16)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


DEGENERATE = [
    ("commas", ",,,,,,,,,,,,,,,,", "token ','", 1.0),
    ("one letter", "aaaaaaaaaaaaaaaaaaaa", "character 'a'", 1.0),
    ("dummy weights bf16", " l e l e l e l e l e l e l e l", "2-gram 'l e'", 0.93),
    ("dummy weights fp32", "%%%%%%%%", "token '%'", 1.0),
    ("one word looped", "Paris Paris Paris Paris Paris Paris Paris Paris", "token 'Paris'", 1.0),
    ("chinese laugh", "哈哈哈哈哈哈哈哈哈哈哈哈", "token '哈'", 1.0),
    ("phrase looped", "The answer is The answer is The answer is The answer is", "3-gram", 1.0),
    ("answer then loop", "Paris." + "!" * 40, "token '!'", 0.93),
]


@pytest.mark.parametrize(
    ("what", "text", "named", "at_least"), DEGENERATE, ids=[d[0] for d in DEGENERATE]
)
def test_a_reply_looping_one_unit_fails_with_the_share_it_covers(
    what: str, text: str, named: str, at_least: float
) -> None:
    check = check_repetition(text)
    assert not check.ok
    assert named in check.detail
    assert check.ratio is not None and check.ratio >= at_least
    assert f"{check.ratio:.0%}" in check.detail  # the measurement is shown


def test_a_phrase_said_twice_or_a_short_reply_is_not_a_loop() -> None:
    assert check_repetition("Paris, Paris.").ok
    assert check_repetition("ha ha ha").ok
    half = "Paris is the capital of France and its largest city. " + "ok ok ok ok"
    assert check_repetition(half).ok


SPECIAL = [
    ("chatml", "<|im_start|>assistant\nParis<|im_end|>", "<|im_start|>"),
    ("llama2", "[INST] What is the capital? [/INST] Paris</s>", "[INST]"),
    ("llama3", "Paris<|eot_id|>", "<|eot_id|>"),
    ("gpt2", "Paris<|endoftext|>", "<|endoftext|>"),
    ("phi3", "<|assistant|>Paris<|end|>", "<|assistant|>"),
    ("gemma", "<start_of_turn>model\nParis<end_of_turn>", "<start_of_turn>"),
    ("glm", "[gMASK]<sop>Paris", "[gMASK]"),
    ("bos", "<s> Paris", "<s>"),
]


@pytest.mark.parametrize(("what", "text", "token"), SPECIAL, ids=[s[0] for s in SPECIAL])
def test_special_tokens_of_common_families_in_the_content_fail(
    what: str, text: str, token: str
) -> None:
    check = check_artifacts(text)
    assert not check.ok and token in check.detail


def test_the_models_own_special_tokens_come_from_its_tokenizer_config(tmp_path: Path) -> None:
    config = {
        "bos_token": {"content": "<\uff5cbegin_of_text\uff5c>", "special": True},
        "eos_token": "<|my_eos|>",
        "pad_token": None,
        "additional_special_tokens": ["<tool_call>", "word"],
        "added_tokens_decoder": {
            "7": {"content": "<|reserved_7|>", "special": True},
            "8": {"content": "<not_special>", "special": False},
        },
        "chat_template": "{{ messages }}",
    }
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    known = read_model_tokens(str(tmp_path))
    assert known.chat_template is True
    # Markup-like special tokens only: "word" is text any answer may hold.
    assert known.tokens == {
        "<\uff5cbegin_of_text\uff5c>",
        "<|my_eos|>",
        "<tool_call>",
        "<|reserved_7|>",
    }
    assert not check_artifacts("Paris <tool_call>", known.tokens).ok
    assert check_artifacts("Paris <tool_call>").ok  # not a common family token
    assert check_artifacts("a word <not_special>", known.tokens).ok


def test_a_model_folder_without_a_template_or_config_says_what_it_knows(tmp_path: Path) -> None:
    assert read_model_tokens(str(tmp_path)).chat_template is None  # no config: not known
    (tmp_path / "tokenizer_config.json").write_text('{"eos_token": "</s>"}')
    assert read_model_tokens(str(tmp_path)).chat_template is False
    (tmp_path / "tokenizer_config.json").write_bytes(b"\xff\xfe not json")
    assert read_model_tokens(str(tmp_path)).tokens == frozenset()
    assert read_model_tokens("Qwen/Qwen3-8B").chat_template is None  # a hub name


def test_special_tokens_ignore_values_of_other_shapes() -> None:
    assert special_tokens({"bos_token": 3, "additional_special_tokens": "x"}) == frozenset()


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t"])
def test_empty_or_whitespace_replies_fail(text: str) -> None:
    check = check_empty(text)
    assert not check.ok and ("empty" in check.detail or "whitespace" in check.detail)


TRUNCATION = [
    # (finish_reason, completion tokens, max_tokens, cut short)
    ("length", 1, 16, True),
    ("length", 2, 16, True),
    ("length", 2, 4, False),  # asked for 4: not far below
    ("length", 16, 16, False),  # used what it was given
    ("stop", 1, 16, False),  # "Paris" and done
    (None, 1, 16, False),
]


@pytest.mark.parametrize(("finish", "tokens", "max_tokens", "cut_short"), TRUNCATION)
def test_a_reply_cut_at_a_token_or_two_far_below_max_tokens_fails(
    finish: str | None, tokens: int, max_tokens: int, cut_short: bool
) -> None:
    check = check_truncated(finish, tokens, max_tokens)
    assert check.ok is not cut_short
    if cut_short:
        assert f"after {tokens} token(s) of max_tokens {max_tokens}" in check.detail


def test_a_huge_reply_is_cut_before_checking() -> None:
    tail = "<|im_end|>"
    huge = "Paris is a city. " * 70_000 + tail  # about 1.2 MB; the token is past the cut
    assert len(huge) > 1_000_000 > CHECKED_CHARS
    assert check_artifacts(huge).ok  # only the first CHECKED_CHARS are read
    assert not check_repetition(huge).ok  # and that part is one sentence looped
