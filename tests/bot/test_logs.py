"""Log lines: `ONCALL_LOG_FORMAT=json` gives log shippers one JSON object per line."""

from __future__ import annotations

import io
import json
import logging

import pytest
from pydantic import ValidationError

from bot import logs
from bot.settings import Settings


def test_a_json_log_line_is_one_object_with_the_message_and_level() -> None:
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(logs.formatter("json"))
    log = logging.getLogger("ascend_oncall.test_logs")
    log.addHandler(handler)
    try:
        log.warning("job %s lost: its agent stopped heartbeating", 7)
        try:
            raise RuntimeError("the database went away")
        except RuntimeError:
            log.exception("housekeeping failed")
    finally:
        log.removeHandler(handler)
    lost, failed = (json.loads(line) for line in written.getvalue().splitlines())
    assert lost["message"] == "job 7 lost: its agent stopped heartbeating"
    assert lost["level"] == "warning" and lost["logger"] == "ascend_oncall.test_logs"
    assert lost["timestamp"].endswith("Z")
    assert failed["level"] == "error" and failed["message"] == "housekeeping failed"
    assert "RuntimeError: the database went away" in failed["exception"]


def test_text_stays_the_default_and_the_format_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ONCALL_LOG_FORMAT", raising=False)
    assert Settings().log_format == "text"
    monkeypatch.setenv("ONCALL_LOG_FORMAT", "json")
    assert Settings().log_format == "json"
    monkeypatch.setenv("ONCALL_LOG_FORMAT", "yaml")
    with pytest.raises(ValidationError, match="log_format"):
        Settings()
