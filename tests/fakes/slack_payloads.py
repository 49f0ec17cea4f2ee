"""Request bodies as Slack sends them to an app: slash commands, events, interactions."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.fakes.slack import BOT_ID, BOT_USER, TEAM

CHANNEL = "C0TEAM"
_TRIGGERS = itertools.count(1)


def _trigger() -> str:
    """Slack gives every invocation a trigger id of its own."""
    return f"{next(_TRIGGERS)}.{time.monotonic_ns()}.trigger"


USER = "U0ALICE"


def slash(
    command: str,
    text: str,
    response_url: str,
    channel: str = CHANNEL,
    user: str = USER,
    team: str = TEAM,
) -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": team,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "team",
            "user_id": user,
            "user_name": "alice",
            "command": command,
            "text": text,
            "api_app_id": "A0APP",
            "response_url": response_url,
            "trigger_id": _trigger(),
        }
    )


def event(inner: dict[str, Any], event_id: str, team: str = TEAM) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": team,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1700000000,
            "event": inner,
            "authorizations": [{"team_id": team, "user_id": BOT_USER, "is_bot": True}],
        }
    )


def message(
    text: str, ts: str, channel: str = CHANNEL, user: str = USER, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "channel_type": "channel",
        **extra,
    }


def mention(text: str, ts: str, channel: str = CHANNEL, **extra: Any) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "channel": channel,
        "user": USER,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        **extra,
    }


def bot_message(text: str, ts: str, channel: str = CHANNEL) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "bot_message",
        "channel": channel,
        "bot_id": "BOTHER",
        "text": text,
        "ts": ts,
    }


def _interaction(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def button(
    action_id: str,
    value: str,
    message: dict[str, Any],
    response_url: str,
    channel: str = CHANNEL,
    user: str = USER,
) -> str:
    return _interaction(
        {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "A0APP",
            "trigger_id": _trigger(),
            "channel": {"id": channel},
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "message": message,
            "response_url": response_url,
            "actions": [
                {"action_id": action_id, "block_id": "feedback", "value": value, "type": "button"}
            ],
        }
    )


def picked(view: dict[str, Any], value: str, user: str = USER) -> str:
    return submitted(
        view,
        {"pick": {"entry": {"type": "static_select", "selected_option": {"value": value}}}},
        user,
    )


def submitted(view: dict[str, Any], values: dict[str, Any], user: str = USER) -> str:
    """A modal's view_submission with `values` as its state (block -> action -> value)."""
    state = {"values": values}
    return _interaction(
        {
            "type": "view_submission",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "A0APP",
            "trigger_id": _trigger(),
            "view": {
                **view,
                "id": "V0VIEW",
                "state": state,
                "team_id": TEAM,
                "app_id": "A0APP",
                "bot_id": BOT_ID,
            },
        }
    )


def shortcut(
    message: dict[str, Any], response_url: str, channel: str = CHANNEL, user: str = USER
) -> str:
    return _interaction(
        {
            "type": "message_action",
            "callback_id": "triage_message",
            "team": {"id": TEAM},
            "user": {"id": user},
            "channel": {"id": channel},
            "message": message,
            "message_ts": message["ts"],
            "response_url": response_url,
            "trigger_id": _trigger(),
        }
    )
