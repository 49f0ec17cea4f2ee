"""A job store on each database kind (SQLite, and PostgreSQL when a URL is given)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from runners.store.jobstore import JobStore, open_jobs
from tests.databases import KINDS, database


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    with database(request.param, tmp_path) as url:
        opened = open_jobs(url, lease_s=60)
        try:
            yield opened
        finally:
            opened.engine.dispose()
