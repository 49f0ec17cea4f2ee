"""Socket Mode: Slack's requests over a WebSocket the bot opens, so no public URL is needed."""

from __future__ import annotations

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler


def connect(app: App, app_token: str) -> SocketModeHandler:
    """Open the connection in the background (it reconnects by itself); close() ends it."""
    handler = SocketModeHandler(app, app_token)
    handler.connect()  # type: ignore[no-untyped-call]
    return handler
