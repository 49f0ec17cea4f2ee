"""Alembic environment: always run from `runners.tables.migrate` with an open connection."""

from __future__ import annotations

from runners.database import run_migrations
from runners.tables import VERSION_TABLE, Base

run_migrations(Base.metadata, VERSION_TABLE)
