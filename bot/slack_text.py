"""A Slack message's text as the person typed it, for triage."""

from __future__ import annotations

import re

_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|[^>]*)?>")


def slack_text(text: str, bot_user_id: str | None = None) -> str:
    """Links unwrapped, the bot's own mention dropped, entities decoded (`&lt;` is `<`)."""
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", "")
    text = _LINK.sub(r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()
