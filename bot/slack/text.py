"""Slack message text both ways: as the person typed it (for triage), and values made safe
to show (a model path, a label or a phase someone chose must never ping the channel)."""

from __future__ import annotations

import re

_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|[^>]*)?>")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


def escape(text: str) -> str:
    """Slack's control characters as entities, so `<!channel>` shows and does not ping;
    everything else stays as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str) -> str:
    """`<@U123>` for a Slack user id; anything else is shown as text, never parsed."""
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else escape(user_id)


def slack_text(text: str, bot_user_id: str | None = None) -> str:
    """Links unwrapped, the bot's own mention dropped, entities decoded (`&lt;` is `<`)."""
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", "")
    text = _LINK.sub(r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()
