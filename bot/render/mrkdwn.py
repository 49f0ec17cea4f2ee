"""Slack's mrkdwn, as the Block Kit renderers write it: values made safe to show (a model
path, a label or a phase someone chose must never ping the channel) and mentions."""

from __future__ import annotations

import re

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


def escape(text: str) -> str:
    """Slack's control characters as entities, so `<!channel>` shows and does not ping;
    everything else stays as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str) -> str:
    """`<@U123>` for a Slack user id; anything else is shown as text, never parsed."""
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else escape(user_id)
