"""Chat front ends over the knowledge base: the command line now, Slack and console next."""

from bot.settings import Settings

__all__ = ["Settings"]
