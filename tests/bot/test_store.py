"""The bot's records, on SQLite (always) and on a real PostgreSQL (when a URL is given).

Set ONCALL_TEST_DATABASE_URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test,
to run the PostgreSQL cases; .ci/run does. Each run works in a schema of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.core.store import Delivery, DeliveryStatus, Store, open_store
from bot.errors import StoreError
from tests.databases import KINDS, database


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with database(request.param, tmp_path) as url:
        opened = open_store(url)
        try:
            yield opened
        finally:
            opened.engine.dispose()


def _answer(store: Store, digest: str = "RuntimeError: boom") -> int:
    return store.add_answer(
        source="slash", verdict="no_match", top_entry_id=None, signature=digest, digest=digest
    )


def test_a_delivery_is_claimed_once_even_by_racing_threads(store: Store) -> None:
    wins: list[bool] = []
    lock = threading.Lock()

    def claim() -> None:
        won = store.claim_delivery("triage:C1:1700000000.1", "mention", {"event": {}})
        with lock:
            wins.append(won)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_a_later_vote_replaces_the_earlier_one_and_its_example(store: Store) -> None:
    answer = _answer(store)
    store.record_feedback(answer, "U1", "not_this", "entry-a")
    store.record_feedback(answer, "U1", "not_this", "entry-b")
    store.record_feedback(answer, "U2", "helpful", "entry-a")  # a thumbs-up teaches nothing
    assert [(e.entry_id, e.text, e.signature) for e in store.examples()] == [
        ("entry-b", "RuntimeError: boom", "RuntimeError: boom")
    ]
    assert store.feedback_counts() == {"not_this": 1, "helpful": 1}


def test_examples_version_changes_with_every_example(store: Store) -> None:
    before = store.examples_version()
    store.record_feedback(_answer(store), "U1", "not_this", "entry-a")
    assert store.examples_version() != before


def test_feedback_for_an_unknown_answer_is_an_error(store: Store) -> None:
    with pytest.raises(StoreError, match="answer 999"):
        store.record_feedback(999, "U1", "helpful", None)


def test_opening_twice_migrates_once(store: Store) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    again = open_store(url)
    assert again.examples_version() == store.examples_version()
    again.engine.dispose()


def test_an_unreachable_database_names_it_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        open_store("postgresql+psycopg://oncall:s3cret@127.0.0.1:1/nowhere?connect_timeout=2")
    assert "127.0.0.1:1/nowhere" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_a_stalled_delivery_is_handed_out_once_and_a_finished_one_never(store: Store) -> None:
    store.claim_delivery("a", "triage", {"text": "x"})
    store.claim_delivery("b", "triage", {"text": "y"})
    store.finish_delivery("b")
    assert store.stalled(idle=timedelta(0)) == [Delivery("a", "triage", {"text": "x"})]
    assert store.stalled(idle=timedelta(seconds=60)) == []  # just handed out: not idle
    assert [j.key for j in store.stalled(idle=timedelta(0))] == ["a"]
    assert store.stalled(idle=timedelta(0)) == []  # three attempts: given up
    assert store.delivery_status("b") is DeliveryStatus.DONE
    store.finish_delivery("a", DeliveryStatus.FAILED)
    with store.engine.connect() as c:  # stored as the strings they always were
        stored = {k: v for k, v in c.execute(text("SELECT key, status FROM bot_jobs"))}
    assert stored == {"a": "failed", "b": "done"}


def test_old_deliveries_are_forgotten(store: Store) -> None:
    store.claim_delivery("old", "triage", {})
    assert store.forget_deliveries(older_than=timedelta(0)) == 1
    assert store.claim_delivery("old", "triage", {})  # the key can be used again
