"""Slack message text as the person typed it, for triage. (The other way, values made safe
to show in a message, is the renderers': bot/render/mrkdwn.py.)"""

from __future__ import annotations

import re

_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|[^>]*)?>")


def slack_text(text: str, bot_user_id: str | None = None) -> str:
    """Links unwrapped, the bot's own mention dropped, entities decoded (`&lt;` is `<`)."""
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", "")
    text = _LINK.sub(r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()
