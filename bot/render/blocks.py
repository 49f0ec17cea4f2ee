"""Block Kit rendering of the core's answers, within Slack's limits.

Limits (https://api.slack.com/reference/block-kit/blocks): 3,000 characters of section
text, 150 of header text, 75 of button or option text, 50 blocks and 40,000 characters a
message, 100 options a select. Anything longer is cut with a visible note, never refused.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.core import wording
from bot.core.answers import Answer, EntryRef, RunbookAnswer, TriageAnswer
from bot.core.layout import Part, triage_parts
from bot.render.mrkdwn import escape as escape  # re-exported: what every renderer uses
from bot.render.mrkdwn import mention
from kb import Match

Block = dict[str, Any]

SECTION_CHARS = 3000
HEADER_CHARS = 150
LABEL_CHARS = 75
MAX_BLOCKS = 50
MESSAGE_CHARS = 40_000
MAX_OPTIONS = 100
FALLBACK_CHARS = 3000

HELPFUL_ACTION = "feedback_helpful"
NOT_THIS_ACTION = "feedback_not_this"
RUN_FORM_ACTION = "run_form"  # "Run on a host": opens the runner dispatch form
PICKER_CALLBACK = "feedback_pick"
PICKER_BLOCK = "pick"
PICKER_ELEMENT = "entry"
NONE_VALUE = "__none__"


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    note = " " + wording.TRUNCATED
    kept = text[: limit - len(note) - 4]
    if kept.count("```") % 2:  # keep a code block closed
        kept += "\n```"
    return kept + note


def markdown(text: str) -> str:
    """Runbook Markdown to mrkdwn: bold and links change, inline code and fences stay."""
    text = escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    return re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r"<\2|\1>", text)


def code(lines: list[str] | tuple[str, ...]) -> str:
    # A fence inside the quoted text would end ours early.
    body = "\n".join(escape(line).replace("```", "` ` `") for line in lines)
    return f"```{body}```"


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_CHARS)}}


def context(*texts: str) -> Block:
    elements = [{"type": "mrkdwn", "text": cut(t, SECTION_CHARS)} for t in texts[:10]]
    return {"type": "context", "elements": elements}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": cut(text, HEADER_CHARS)}}


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    out: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": cut(text, LABEL_CHARS)},
        "action_id": action_id,
        "value": value,
    }
    if style:
        out["style"] = style
    return out


def _actions_sections(heading: str, actions: tuple[str, ...]) -> list[Block]:
    """Numbered actions under a heading (mrkdwn); more sections rather than a cut, when long."""
    blocks: list[Block] = []
    current = heading
    for n, action in enumerate(actions, 1):
        item = f"{n}. {markdown(action)}"
        if len(current) + 1 + len(item) > SECTION_CHARS and current:
            blocks.append(section(current))
            current = ""
        current = f"{current}\n{item}" if current else item
    if current:
        blocks.append(section(current))
    return blocks


def _candidates(matches: tuple[Match, ...]) -> str:
    return "\n".join(f"• {escape(m.title)} ({m.confidence}, {m.score:.2f})" for m in matches)


def _part_blocks(part: Part, asked: list[str]) -> list[Block]:
    if part.kind == "head":
        return [header(part.title)]
    if part.kind == "meta":
        return [
            context(" · ".join([part.title, wording.ENTRY_ID.format(id=part.entry_id), *asked]))
        ]
    if part.kind == "body":
        return ([context(*asked)] if asked else []) + [section(part.title)]
    if part.kind == "cause":
        cause = code(list(part.lines)) if part.lines else wording.NO_SIGNATURE
        return [section(f"*{part.title}*\n{cause}")]
    if part.kind == "evidence":
        return [section(f"*{part.title}*\n{code(list(part.lines))}")]
    if part.kind == "confirm":
        return [section(f"*{part.title}*\n" + "\n".join(f"• {escape(c)}" for c in part.lines))]
    if part.kind == "actions":
        return _actions_sections(f"*{part.title}*", part.lines)
    if part.kind == "candidates":
        return [section(f"*{part.title}*\n{_candidates(part.matches)}")]
    return [context(*(escape(n) for n in part.lines))]


def _triage_blocks(answer: TriageAnswer, run_button: bool) -> list[Block]:
    result, value = answer.triage, str(answer.answer_id)
    asked = [wording.ASKED_BY.format(who=mention(answer.asked_by))] if answer.asked_by else []
    blocks = [b for part in triage_parts(result, answer.notes) for b in _part_blocks(part, asked)]
    if result.verdict in ("match", "likely"):
        buttons = [
            button(wording.HELPFUL, HELPFUL_ACTION, value, "primary"),
            button(wording.NOT_THIS, NOT_THIS_ACTION, value),
        ]
    else:
        buttons = [button(wording.PICK_ENTRY, NOT_THIS_ACTION, value)]
    if run_button:
        run = json.dumps({"answer": answer.answer_id, "model": answer.model or ""})
        buttons.append(button(wording.RUN_ON_HOST, RUN_FORM_ACTION, run))
    blocks.append({"type": "actions", "block_id": "feedback", "elements": buttons})
    return blocks


def _runbook_blocks(answer: RunbookAnswer) -> list[Block]:
    if not answer.query:
        listing = [f"• {escape(e.title)} (`{e.id}`)" for e in answer.entries]
        return _long_section(wording.RUNBOOK_ALL.format(n=len(answer.entries)), listing)
    if not answer.found:
        return [section(escape(wording.RUNBOOK_NONE.format(query=answer.query)))]
    blocks = [header(wording.RUNBOOK_HEAD.format(query=answer.query))]
    for match in answer.found:
        heading = f"*{escape(match.title)}* (`{match.entry_id}`)"
        blocks += _actions_sections(heading, match.actions)
    return blocks


def _long_section(head: str, lines: list[str]) -> list[Block]:
    blocks, current = [], head
    for line in lines:
        if len(current) + 1 + len(line) > SECTION_CHARS:
            blocks.append(section(current))
            current = ""
        current = f"{current}\n{line}" if current else line
    blocks.append(section(current))
    return blocks


def fallback_text(answer: Answer) -> str:
    """The notification text that goes with the blocks (and what screen readers say)."""
    if isinstance(answer, TriageAnswer):
        result = answer.triage
        if result.verdict == "match":
            top = result.matches[0]
            return escape(cut(wording.MATCH_HEAD.format(title=top.title), FALLBACK_CHARS))
        if result.verdict == "likely":
            top = result.matches[0]
            return escape(cut(wording.LIKELY_HEAD.format(title=top.title), FALLBACK_CHARS))
        return wording.NO_MATCH_HEAD
    if isinstance(answer, RunbookAnswer):
        return escape(wording.RUNBOOK_HEAD.format(query=cut(answer.query or "all", 200)))
    return escape(cut(answer.text, FALLBACK_CHARS))


def limit(blocks: list[Block]) -> list[Block]:
    """Keep a message within 50 blocks and 40,000 characters, saying what was left out."""
    actions = [b for b in blocks if b["type"] == "actions"]
    body = [b for b in blocks if b["type"] != "actions"]
    room = MAX_BLOCKS - len(actions)
    kept: list[Block] = []
    size = 0
    for block in body:
        length = len(str(block))
        if len(kept) >= room - 1 or size + length > MESSAGE_CHARS - 1000:
            kept.append(context(wording.TRUNCATED))
            break
        kept.append(block)
        size += length
    return kept + actions


def render(answer: Answer, run_button: bool = False) -> list[Block]:
    """Block Kit for an answer; `run_button` adds "Run on a host" (runner jobs are set up)."""
    if isinstance(answer, TriageAnswer):
        blocks = _triage_blocks(answer, run_button)
    elif isinstance(answer, RunbookAnswer):
        blocks = _runbook_blocks(answer)
    else:
        blocks = [section(escape(answer.text))]
    return limit(blocks)


def _option(text: str, value: str) -> Block:
    return {"text": {"type": "plain_text", "text": cut(text, LABEL_CHARS)}, "value": value[:150]}


def picker(entries: tuple[EntryRef, ...], metadata: str) -> dict[str, Any]:
    """The "Not this" modal: choose the entry that fits, or none."""
    options = [_option(e.title, e.id) for e in entries]
    options.append(_option(wording.PICKER_NONE, NONE_VALUE))
    element: Block = {"type": "static_select", "action_id": PICKER_ELEMENT}
    if len(options) <= MAX_OPTIONS:
        element["options"] = options
    else:  # a select holds 100 options, or 100 groups of 100
        chunks = [options[i : i + MAX_OPTIONS] for i in range(0, len(options), MAX_OPTIONS)]
        element["option_groups"] = [
            {
                "label": {
                    "type": "plain_text",
                    "text": f"{n * MAX_OPTIONS + 1} to {n * MAX_OPTIONS + len(c)}",
                },
                "options": c,
            }
            for n, c in enumerate(chunks[:MAX_OPTIONS])
        ]
    return {
        "type": "modal",
        "callback_id": PICKER_CALLBACK,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": wording.PICKER_TITLE},
        "submit": {"type": "plain_text", "text": wording.PICKER_SUBMIT},
        "blocks": [
            {
                "type": "input",
                "block_id": PICKER_BLOCK,
                "label": {"type": "plain_text", "text": wording.PICKER_LABEL},
                "element": element,
            }
        ],
    }


def with_mark(blocks: list[Block], mark: str) -> list[Block]:
    """The answer's blocks with one more feedback mark above its buttons (ten at most)."""
    old = next((b for b in blocks if b.get("block_id") == "feedback_mark"), None)
    marks = [e["text"] for e in old["elements"]] if old else []
    if mark not in marks:
        marks = [*marks, mark][-10:]
    kept = [b for b in blocks if b.get("block_id") != "feedback_mark"]
    mark_block = {**context(*marks), "block_id": "feedback_mark"}
    at = next((i for i, b in enumerate(kept) if b["type"] == "actions"), len(kept))
    return limit([*kept[:at], mark_block, *kept[at:]])
