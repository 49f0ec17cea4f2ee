"""Shared fixtures: one triager over the real embedding model per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb import KBConfig, Triager, load

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("oncall-cache")


@pytest.fixture(scope="session")
def triager(cache_dir: Path) -> Iterator[Triager]:
    """The shipped runbook and the real bundled model: what users get."""
    yield load(KBConfig(cache_dir=cache_dir))


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    """CLI runs read settings from the environment: point them at the test cache."""
    for key in list(os.environ):
        if key.startswith("ONCALL_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ONCALL_CACHE_DIR", str(cache_dir))
