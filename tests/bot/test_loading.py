"""`serve` answers Slack while the index and model load: /healthz says so, a triage waits."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.core.answers import Notice, TriageAnswer
from bot.core.oncall import Oncall
from bot.core.store import open_store
from bot.service import health_of
from kb import Example, KBError, Triager

LINE = "RuntimeError: ACL stream synchronize failed, error code:507903"


def test_while_the_triager_loads_health_says_so_and_a_triage_waits_for_it(
    database_url: str, triager: Triager
) -> None:
    release = threading.Event()

    def slow(examples: tuple[Example, ...]) -> Triager:
        release.wait(10)  # the model takes its time
        return triager

    oncall = Oncall(slow, open_store(database_url), background=True)
    assert oncall.loading
    assert health_of(oncall, "http") == {"ok": True, "mode": "http", "triager": "loading"}
    answers: list[object] = []
    asking = threading.Thread(target=lambda: answers.append(oncall.triage(LINE, source="test")))
    asking.start()
    asking.join(0.3)
    assert asking.is_alive() and not answers, "the triage waits for the triager"
    release.set()
    asking.join(10)
    (answer,) = answers
    assert isinstance(answer, TriageAnswer) and answer.triage.verdict == "match"
    health = health_of(oncall, "http")
    assert health["triager"] == "ready" and health["entries"] == len(triager.index.entries)


def test_a_triager_that_cannot_be_made_is_said_in_health_and_in_every_answer(
    database_url: str, tmp_path: Path
) -> None:
    def broken(examples: tuple[Example, ...]) -> Triager:
        raise KBError("the model file is damaged")

    oncall = Oncall(broken, open_store(database_url), background=True)
    answer = oncall.triage(LINE, source="test")
    assert isinstance(answer, Notice) and answer.problem
    assert "the model file is damaged" in answer.text
    assert health_of(oncall, "http") == {
        "ok": False, "mode": "http", "error": "the model file is damaged"
    }  # fmt: skip
