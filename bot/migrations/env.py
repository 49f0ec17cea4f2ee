"""Alembic environment: always run from `bot.core.store.migrate` with an open connection."""

from __future__ import annotations

from bot.core.store import VERSION_TABLE, Base
from runners import run_migrations

run_migrations(Base.metadata, VERSION_TABLE)
