"""Databases for tests: a SQLite file always; the PostgreSQL at ONCALL_TEST_DATABASE_URL
(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) when given, in a schema of its
own per test, dropped afterwards. .ci/run gives the URL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("ONCALL_TEST_DATABASE_URL")
KINDS = ["sqlite", "postgresql"]


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"
        return
    if not PG_URL:
        pytest.skip("no PostgreSQL: set ONCALL_TEST_DATABASE_URL to run these")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
