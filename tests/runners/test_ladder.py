"""The ladder's plan, pure: which rungs run on dummy weights, when the real weights confirm
the config that works, and what a failed confirm changes. Results are built by hand."""

from __future__ import annotations

from runners import Done, JobSpec, NextStep, RunbookMatch, Rung, RunResult, RunTriage, Step, plan
from runners.autopilot.cheap_rungs import dummy, weightless, without_dummy

BASE = JobSpec(playbook="smoke", model="org/m")
CAPTURE = NextStep(
    playbook="fallback", fallback="hccl-aiv", reason="the runbook: AIV", alternatives=["eager"]
)


def failed(
    next_step: NextStep | None = None, entry: str | None = None, stage: str = "capturing graphs"
) -> RunResult:
    triage = None
    if entry is not None:
        match = RunbookMatch(entry_id=entry, title=entry, confidence="high")
        triage = RunTriage(verdict="match", matches=[match])
    return RunResult(
        playbook="smoke",
        status="failed",
        phase="starting",
        stage=stage,
        verdict="failed: something",
        next=next_step,
        triage=triage,
    )


def passed() -> RunResult:
    return RunResult(playbook="fallback", status="passed", phase="text smoke", verdict="passed")


def rung(decision: Rung | Done) -> Rung:
    assert isinstance(decision, Rung), decision
    return decision


def test_a_graph_capture_failure_is_retried_on_dummy_weights_then_confirmed() -> None:
    first = Step(BASE, "as asked", failed(CAPTURE, "acl-graph-capture-fails-507903"))
    cheap = rung(plan(BASE, [first]))
    assert cheap.spec.fallback == "hccl-aiv" and dummy(cheap.spec)
    assert cheap.spec.args == ("--load-format", "dummy")
    on_dummy = Step(cheap.spec, cheap.why, passed())
    confirm = rung(plan(BASE, [first, on_dummy]))
    assert confirm.spec == without_dummy(cheap.spec) and not dummy(confirm.spec)
    assert confirm.why.startswith("confirm on the real weights: fallback hccl-aiv on dummy")
    done = plan(BASE, [first, on_dummy, Step(confirm.spec, confirm.why, passed())])
    assert isinstance(done, Done) and done.outcome == "works" and done.confirmed is True
    assert done.best is not None and not dummy(done.best.spec)


def test_weight_failures_never_use_dummy_weights() -> None:
    """A failure while loading, or a runbook entry about the weights, keeps the real ones."""
    eager = NextStep(playbook="eager", reason="isolate")
    loading = failed(eager, stage="loading")
    assert not weightless(loading)
    assert not dummy(rung(plan(BASE, [Step(BASE, "", loading)])).spec)
    keys = failed(eager, "weight-loading-key-mismatch")
    assert not weightless(keys)
    quality = failed(eager, "api-reachable-but-output-quality-odd")
    assert not dummy(rung(plan(BASE, [Step(BASE, "", quality)])).spec)


def test_without_a_triage_the_verdict_s_next_step_decides() -> None:
    assert weightless(failed(CAPTURE))
    assert weightless(failed(NextStep(playbook="eager", reason="isolate")))
    kv = NextStep(playbook="fallback", fallback="max-model-len=2048", reason="the estimate")
    assert weightless(failed(kv, stage="profiling"))
    host = NextStep(playbook="smoke", reason="infrastructure: retry once")
    assert not weightless(failed(host)), "a retry of the host runs as it ran"
    assert not weightless(failed(None)) and not weightless(passed())


def test_a_load_format_the_user_set_is_never_changed() -> None:
    base = BASE.model_copy(update={"args": ("--load-format", "safetensors")})
    nxt = rung(plan(base, [Step(base, "", failed(CAPTURE))]))
    assert nxt.spec.args == ("--load-format", "safetensors")
    done = plan(base, [Step(base, "", failed(CAPTURE)), Step(nxt.spec, "", passed())])
    assert isinstance(done, Done) and done.outcome == "works" and done.confirmed is None


def test_a_user_who_runs_on_dummy_weights_gets_no_confirm_on_real_ones() -> None:
    """Their folder may hold no weights at all (a config-only checkpoint)."""
    base = BASE.model_copy(update={"args": ("--load-format", "dummy")})
    nxt = rung(plan(base, [Step(base, "", failed(CAPTURE))]))
    assert nxt.spec.args == ("--load-format", "dummy")
    done = plan(base, [Step(base, "", failed(CAPTURE)), Step(nxt.spec, "", passed())])
    assert isinstance(done, Done) and done.outcome == "works" and done.confirmed is None
    assert done.best is not None and dummy(done.best.spec)


def test_one_relaunch_is_not_enough_for_a_cheap_rung_and_its_confirm() -> None:
    assert not dummy(rung(plan(BASE, [Step(BASE, "", failed(CAPTURE))], max_steps=1)).spec)


def test_a_failed_confirm_climbs_on_from_the_real_weights() -> None:
    first = Step(BASE, "as asked", failed(CAPTURE))
    cheap = rung(plan(BASE, [first]))
    on_dummy = Step(cheap.spec, cheap.why, passed())
    confirm = rung(plan(BASE, [first, on_dummy]))
    crash = NextStep(playbook="eager", reason="isolate: does it pass with --enforce-eager?")
    refuted = Step(confirm.spec, confirm.why, failed(crash, stage="api up"))
    nxt = rung(plan(BASE, [first, on_dummy, refuted]))
    assert nxt.spec.playbook == "eager" and not dummy(nxt.spec), "real weights from now on"
    eager = Step(nxt.spec, nxt.why, passed())
    done = plan(BASE, [first, on_dummy, refuted, eager])
    assert isinstance(done, Done) and done.outcome == "works" and done.confirmed is False
    assert done.best is not None and done.best.spec.playbook == "eager"
    assert any("passed on dummy weights only" in r for r in done.ruled_out)


def test_no_relaunch_left_for_the_confirm_is_not_a_working_config() -> None:
    """The relaunches were lowered mid-ladder (a bot restarted with another setting): a
    pass on dummy weights that cannot be confirmed is not called a working config."""
    first = Step(BASE, "as asked", failed(CAPTURE))
    cheap = rung(plan(BASE, [first]))
    done = plan(BASE, [first, Step(cheap.spec, cheap.why, passed())], max_steps=1)
    assert isinstance(done, Done) and done.outcome == "stopped"
    assert "no relaunch is left to confirm it" in done.why
