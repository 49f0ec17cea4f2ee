"""Block Kit rendering: Slack's limits kept, with a visible note when something is cut."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import wording
from bot.core.answers import EntryRef, RunbookAnswer, TriageAnswer
from bot.render import blocks, plain
from kb import Match, Triage


def _answer(signature: str, actions: tuple[str, ...], notes: tuple[str, ...] = ()) -> TriageAnswer:
    top = Match("e1", "Title " * 40, 0.9, "high", (signature[:300], "another line"), actions)
    others = tuple(Match(f"e{i}", f"Other {i}", 0.2, "low", (), ()) for i in range(2, 5))
    return TriageAnswer(Triage("match", signature, (top, *others), notes), 42, "U1")


def _check_limits(rendered: list[dict[str, object]]) -> None:
    assert len(rendered) <= blocks.MAX_BLOCKS
    assert len(json.dumps(rendered)) <= blocks.MESSAGE_CHARS
    for block in rendered:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= blocks.SECTION_CHARS  # type: ignore[index]
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= blocks.HEADER_CHARS  # type: ignore[index]
        for element in block.get("elements", []):  # type: ignore[attr-defined]
            text = element["text"]
            assert len(text if isinstance(text, str) else text["text"]) <= blocks.SECTION_CHARS


def test_a_huge_answer_is_cut_with_a_note() -> None:
    answer = _answer(
        "E" * 500_000, tuple(f"step {i}: " + "x" * 2900 for i in range(80)), ("n" * 5000,)
    )
    rendered = blocks.render(answer)
    _check_limits(rendered)
    assert wording.TRUNCATED in json.dumps(rendered)
    assert rendered[-1]["type"] == "actions"  # the feedback buttons survive the cut


def test_actions_are_numbered_with_code_kept_and_markup_escaped() -> None:
    answer = _answer(
        "RuntimeError: a < b & c",
        ("Run `vllm serve --enforce-eager`", "See **bold** [docs](https://x.y/z)"),
    )
    text = json.dumps(blocks.render(answer))
    assert "1. Run `vllm serve --enforce-eager`" in text
    assert "2. See *bold* <https://x.y/z|docs>" in text
    assert "RuntimeError: a &lt; b &amp; c" in text


def test_a_fence_in_the_log_cannot_break_out_of_the_quote() -> None:
    rendered = blocks.render(_answer("boom ``` *not bold*", ("a",)))
    cause = next(b for b in rendered if "Root cause" in json.dumps(b))
    assert cause["text"]["text"].count("```") == 2


@settings(max_examples=60, deadline=None)
@given(
    signature=st.text(min_size=1, max_size=20_000),
    actions=st.lists(st.text(max_size=4000), max_size=60),
    notes=st.lists(st.text(max_size=4000), max_size=12),
)
def test_any_answer_fits_slack(signature: str, actions: list[str], notes: list[str]) -> None:
    _check_limits(blocks.render(_answer(signature, tuple(actions), tuple(notes))))


def test_the_picker_lists_every_entry_and_none() -> None:
    few = blocks.picker(tuple(EntryRef(f"id-{i}", f"Entry {i}") for i in range(17)), "{}")
    options = few["blocks"][0]["element"]["options"]
    assert len(options) == 18 and options[-1]["value"] == blocks.NONE_VALUE
    entries = tuple(EntryRef(f"id-{i}", f"Entry {i} " + "y" * 100) for i in range(250))
    many = blocks.picker(entries, '{"answer": 1}')["blocks"][0]["element"]
    assert "options" not in many
    grouped = [o for g in many["option_groups"] for o in g["options"]]
    assert len(grouped) == 251 and all(
        len(g["options"]) <= blocks.MAX_OPTIONS for g in many["option_groups"]
    )
    assert grouped[-1]["value"] == blocks.NONE_VALUE
    assert all(len(o["text"]["text"]) <= blocks.LABEL_CHARS for o in grouped)


def test_console_and_slack_say_the_same_thing() -> None:
    answer = _answer("RuntimeError: boom", ("Do this",))
    slack, console = json.dumps(blocks.render(answer)), plain.render(answer)
    for phrase in (wording.ROOT_CAUSE, wording.ACTIONS, wording.OTHERS, "Confidence: high (0.90)"):
        assert phrase in slack and phrase in console
    listing = RunbookAnswer("", (), (EntryRef("a", "Alpha"), EntryRef("b", "Beta")))
    assert "The runbook has 2 entries" in json.dumps(blocks.render(listing))
    assert "The runbook has 2 entries" in plain.render(listing)


def test_a_likely_answer_names_the_entry_says_it_is_unsure_and_what_would_confirm_it() -> None:
    top = Match("e1", "ACL graph capture fails (507903)", 0.41, "low", (), ("Prefer AIV",))
    other = Match("e2", "Other", 0.05, "low", (), ())
    triage = Triage(
        "likely",
        "error code is 207008",
        (top, other),
        confirm=("`AclmdlRICaptureEnd` ... `507903`",),
    )
    answer = TriageAnswer(triage, 7, "U1")
    for text in (json.dumps(blocks.render(answer)), plain.render(answer)):
        assert "Likely: ACL graph capture fails (507903)" in text
        assert "not strongly enough for me to be sure" in text
        assert "AclmdlRICaptureEnd" in text and "Prefer AIV" in text
        assert wording.NO_MATCH_HEAD not in text
    assert blocks.fallback_text(answer).startswith("Likely:")


def test_slack_the_console_and_the_terminal_say_the_same_things_in_the_same_order() -> None:
    from rich.console import Console

    from bot.render.terminal import triage_view

    top = Match(
        "e1", "ACL graph capture fails", 0.91, "high", ("line A",), ("step one", "step two")
    )
    others = (Match("e2", "Second entry", 0.3, "low", (), ()),)
    for verdict in ("match", "likely", "no_match"):
        matches = (top, *others) if verdict != "no_match" else others
        triage = Triage(verdict, "RuntimeError: boom", matches, ("a note",), confirm=("symptom",))
        answer = TriageAnswer(triage, 7)
        console = Console(width=200, record=True)
        console.print(triage_view(triage))
        shown = {
            "slack": json.dumps(blocks.render(answer), ensure_ascii=False),
            "console": plain.render(answer),
            "terminal": console.export_text(),
        }
        said = [
            wording.NO_MATCH_HEAD if verdict == "no_match" else "ACL graph capture fails",
            "RuntimeError: boom",
            "a note",
        ]
        if verdict != "no_match":
            said[1:1] = ["e1"]
            said[-1:-1] = ["step one", "step two", "Second entry"]
        else:
            said[-1:-1] = ["Second entry"]
        for medium, text in shown.items():
            where = [text.find(s) for s in said]
            assert -1 not in where, (verdict, medium, said, where)
            assert where == sorted(where), (verdict, medium, "in the same order")
