"""What can go wrong in the bot, as named errors a front end can put into words.

BotError
├── SlackSetupError      tokens or secrets missing or rejected; names the setting
├── StoreError           the database cannot be opened or migrated; names the URL (no password)
└── FileFetchError       a Slack file cannot be fetched: too big, not text, not Slack's
"""

from __future__ import annotations


class BotError(Exception):
    """Root of the bot's own errors."""


class SlackSetupError(BotError):
    pass


class StoreError(BotError):
    pass


class FileFetchError(BotError):
    def __init__(self, message: str, file_id: str | None = None) -> None:
        super().__init__(message)
        self.file_id = file_id
