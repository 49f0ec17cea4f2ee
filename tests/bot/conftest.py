"""Bot fixtures: a fake Slack on loopback, the core over a fresh database, the bolt App."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from slack_bolt import App, BoltRequest, BoltResponse

from bot.core.oncall import Oncall
from bot.core.store import open_store
from bot.settings import Settings
from bot.slack.app import build_app
from kb import Example, KBConfig, Triager, load
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, sign


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'oncall.db'}"


@pytest.fixture
def oncall(database_url: str, cache_dir: Path, triager: Triager) -> Oncall:
    config = KBConfig(cache_dir=cache_dir)

    def make(examples: tuple[Example, ...]) -> Triager:
        return load(config, embedder=triager.index.embedder, examples=examples)

    return Oncall(make, open_store(database_url))


def slack_settings(fake: FakeSlack, database_url: str, **extra: Any) -> Settings:
    return Settings(
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_api_url=fake.api_url,
        database_url=database_url,
        **extra,
    )


@pytest.fixture
def settings(fake_slack: FakeSlack, database_url: str) -> Settings:
    return slack_settings(fake_slack, database_url, watched_channels=["C0WATCH"])


@pytest.fixture
def app(settings: Settings, oncall: Oncall) -> App:
    return build_app(settings, oncall)


def dispatch(app: App, body: str, content_type: str, **headers: str) -> BoltResponse:
    """A request as Slack sends it: signed with the app's signing secret."""
    all_headers = {"Content-Type": content_type, **sign(body), **headers}
    return app.dispatch(BoltRequest(body=body, headers=all_headers))


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
