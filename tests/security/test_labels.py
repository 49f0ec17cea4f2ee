"""Labels decide which host runs a job, so an agent claims only what the admin gave it
(red team: an agent made without `--label` claimed another agent's name and took the
jobs meant `on <that host>`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from runners import AuthError, JobSpec, RunnerError
from runners.store.agents import Agent
from runners.store.database import connect
from runners.store.jobstore import JobStore, open_jobs
from runners.store.tables import MIGRATIONS, VERSION_TABLE

BAD = [
    "",
    "a b",
    "<!channel>",
    "a" * 64,
    "-x",
    ".x",
    "a/b",
    "x\n",
    "a,b",
    "\uff4e\uff50\uff55",
    "*",
]


def agent(store: JobStore, name: str, given: list[str] | None = None) -> Agent:
    return store.agent_for(store.add_agent(name, given))


def test_names_and_labels_are_plain_words(store: JobStore) -> None:
    for bad in BAD:
        with pytest.raises(RunnerError, match="letters, digits"):
            store.add_agent("npu", [bad])
        with pytest.raises(RunnerError, match="letters, digits"):
            store.add_agent(bad or " ")
    me = agent(store, "npu-a2.01", ["a2", "tp_8"])
    assert store.register(me, ("a2", "tp_8"), "h", "1", 1).labels == ("a2", "tp_8")
    for bad in BAD:
        with pytest.raises(AuthError, match="letters, digits"):
            store.register(me, (bad,), "h", "1", 1)


def test_an_agent_made_without_labels_may_claim_only_its_own_name(store: JobStore) -> None:
    me = agent(store, "npu-01")
    with pytest.raises(AuthError, match="may not claim the labels a2"):
        store.register(me, ("a2",), "h", "1", 1)
    assert store.register(me, ("npu-01",), "h", "1", 1).labels == ("npu-01",)
    assert store.register(me, (), "h", "1", 1).labels == ()
    assert store.served(("npu-01",)) and not store.served(("a2",))


def test_another_agents_name_cannot_be_given_or_claimed(store: JobStore) -> None:
    store.add_agent("npu-a3")
    with pytest.raises(RunnerError, match="npu-a3 is the name of an agent"):
        store.add_agent("rogue", ["a2", "npu-a3"])
    store.add_agent("npu-a2", ["a2"])
    with pytest.raises(RunnerError, match="a2 is a label of npu-a2"):
        store.add_agent("a2")


def test_a_job_meant_for_a_host_goes_to_no_other_agent(store: JobStore) -> None:
    """The red team's case: a rogue agent asks for the victim's name as a label."""
    victim = store.register(agent(store, "npu-a3"), (), "a3", "1", 1)
    rogue = agent(store, "rogue")
    with pytest.raises(AuthError):
        store.register(rogue, ("npu-a3",), "rogue", "1", 1)
    rogue = store.register(rogue, (), "rogue", "1", 1)
    job = store.submit(JobSpec(playbook="smoke", model="org/m", labels=("npu-a3",)))
    assert store.lease(rogue) is None
    leased = store.lease(victim)
    assert leased is not None and leased.id == job.id and leased.agent == "npu-a3"


def test_agents_made_before_the_rule_keep_their_labels_less_other_agents_names(
    tmp_path: Path,
) -> None:
    """Upgrading: an agent made without `--label` keeps what it had claimed, except
    another agent's name; a job queued before the upgrade is still leased by label."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = connect(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_table", VERSION_TABLE)
    with engine.begin() as c:
        config.attributes["connection"] = c
        command.upgrade(config, "0001")
        for name, claimed in (("npu-a2", '["a2", "npu-a3", "tp8"]'), ("npu-a3", "[]")):
            c.execute(
                text(
                    "INSERT INTO runner_agents (name, token_hash, created_at, labels, slots,"
                    " disabled) VALUES (:n, :h, CURRENT_TIMESTAMP, :l, 1, false)"
                ),
                {"n": name, "h": name, "l": claimed},
            )
        c.execute(
            text(
                "INSERT INTO runner_jobs (created_at, updated_at, spec, labels, status, phase,"
                " cancel_requested, log_tail, version, notified_version) VALUES"
                " (CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :s, '[\"a2\"]', 'queued', 'queued',"
                " false, '[]', 1, 0)"
            ),
            {"s": JobSpec(playbook="smoke", model="org/m", labels=("a2",)).model_dump_json()},
        )
    engine.dispose()
    store = open_jobs(url)
    try:
        old = {a.name: a for a, _ in store.agents()}["npu-a2"]
        assert old.allowed == ("a2", "tp8")
        me = store.register(old, ("a2", "tp8"), "h", "1", 1)
        with pytest.raises(AuthError):
            store.register(old, ("npu-a3",), "h", "1", 1)
        leased = store.lease(me)
        assert leased is not None and leased.spec.labels == ("a2",)
    finally:
        store.engine.dispose()
