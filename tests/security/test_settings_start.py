"""A Slack secret set to nothing is refused when the bot starts, by name (red team:
`SLACK_SIGNING_SECRET=` passed the start check, then every request got a 500)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from bot.cli import app
from bot.errors import SlackSetupError
from bot.service import check_slack
from bot.settings import Settings
from tests.fakes.slack import FakeSlack

runner = CliRunner()


SLACK = ("slack_bot_token", "slack_app_token", "slack_signing_secret")


def _settings(**slack: str) -> Settings:
    """Settings with exactly these Slack values (the rest unset, whatever the environment)."""
    values = {k: SecretStr(slack[k]) if k in slack else None for k in SLACK}
    return Settings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_an_empty_signing_secret_is_refused_in_http_mode(blank: str) -> None:
    with pytest.raises(SlackSetupError, match="SLACK_SIGNING_SECRET is set but empty"):
        check_slack(_settings(slack_bot_token="xoxb-1", slack_signing_secret=blank))


def test_an_empty_app_token_or_bot_token_is_refused_by_name() -> None:
    with pytest.raises(SlackSetupError, match="SLACK_APP_TOKEN is set but empty"):
        check_slack(
            _settings(slack_bot_token="xoxb-1", slack_app_token="", slack_signing_secret="s")
        )
    with pytest.raises(SlackSetupError, match="SLACK_BOT_TOKEN is set but empty"):
        check_slack(_settings(slack_bot_token=" ", slack_app_token="xapp-1"))


def test_socket_mode_needs_no_signing_secret_so_an_empty_one_is_no_obstacle() -> None:
    check_slack(
        _settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1", slack_signing_secret="")
    )
    check_slack(_settings(slack_bot_token="xoxb-1", slack_signing_secret="s"))


def test_serve_with_an_empty_signing_secret_stops_before_it_starts(
    isolated_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-fake-bot-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "")
    # No model there: a start that went on past the check would fail on the model instead.
    monkeypatch.setenv("ONCALL_MODEL_PATH", str(tmp_path / "no-model"))
    monkeypatch.setenv("ONCALL_DATABASE_URL", f"sqlite:///{tmp_path / 'oncall.db'}")
    with FakeSlack() as slack:
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        result = runner.invoke(app, ["serve", "--port", "0"])
        assert slack.of("auth.test") == [], "refused before Slack is asked anything"
    assert result.exit_code == 1
    assert "SLACK_SIGNING_SECRET is set but empty" in result.stderr
    assert "model" not in result.stderr
