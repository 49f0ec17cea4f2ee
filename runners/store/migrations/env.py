"""Alembic environment: always run from `runners.store.tables.migrate` with an open connection."""

from __future__ import annotations

from runners.store.database import run_migrations
from runners.store.tables import VERSION_TABLE, Base

run_migrations(Base.metadata, VERSION_TABLE)
