"""The smoke judges what the model says: against the fake `vllm`, every broken-output
scenario fails honestly with the quality finding and its evidence, triaged to the
runbook's quality entry; clean ones pass. Parsing of hostile replies is tested pure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb import Triager
from runners import JobSpec, RunnerConfig, RunResult, run_playbook
from runners.run.answer_report import TEMPLATE_MISMATCH, CheckOutcome, ProbeAnswer, judge
from runners.run.probes import answer, dummy_weights
from runners.run.smoke import EMPTY, REPLY_BYTES, parse_generation
from tests.runners.test_run_cli import run as cli_run

QUALITY_ENTRY = "api-reachable-but-output-quality-odd"


def run(config: RunnerConfig, scenario: str, playbook: str = "smoke") -> RunResult:
    spec = JobSpec(playbook=playbook, model=f"fake/{scenario}")  # type: ignore[arg-type]
    result = run_playbook(spec, config)
    assert result.cleanup == "clean", result.cleanup
    return result


def chat_body(content: object, finish: str = "stop", tokens: int = 3) -> bytes:
    choice = {"index": 0, "message": {"role": "assistant", "content": content}}
    body = {"choices": [choice | {"finish_reason": finish}], "usage": {"completion_tokens": tokens}}
    return json.dumps(body).encode()


# --- hostile bytes, parsed without a server ---------------------------------------------


def test_invalid_json_with_200_is_a_failure_quoting_the_first_bytes() -> None:
    reply = parse_generation(200, b"<html>upstream gateway timed out</html>" * 50, None, True, 16)
    assert not reply.ok and reply.http_status == 200
    assert "not a chat completion" in (reply.error or "")
    assert "'<html>upstream gateway" in (reply.error or "")
    assert len(reply.error or "") < 300  # quoted, not dumped


def test_non_utf8_bytes_are_replaced_and_reported_by_a_check() -> None:
    body = chat_body("Paris").replace(b"Paris", b"Pa\xff\xferis")
    reply = parse_generation(200, body, None, True, 16)
    assert reply.ok and reply.non_utf8 and "\ufffd" in reply.content
    probe = answer("one-word", "q", reply, frozenset())
    assert [c.name for c in probe.checks if not c.ok] == ["encoding"]


def test_a_real_replacement_character_sent_as_utf8_is_not_an_encoding_fault() -> None:
    reply = parse_generation(200, chat_body("Paris \ufffd"), None, True, 16)
    assert not reply.non_utf8


def test_a_1_mb_reply_is_cut_before_checking_and_says_how_much_was_cut() -> None:
    content = "Paris is the capital of France. " * 33_000  # ~1 MB
    reply = parse_generation(200, chat_body(content, "length", 16), None, True, 16)
    probe = answer("one-word", "q", reply, frozenset())
    assert len(probe.reply) <= 2000 and probe.cut_chars > 1_000_000 - 2000
    assert not probe.ok  # one sentence looped over the first part of the reply


def test_an_over_limit_body_is_not_parsed() -> None:
    reply = parse_generation(200, b"{" * 100, f"a reply over {REPLY_BYTES} bytes", True, 16)
    assert not reply.ok and "'{{{{" in (reply.error or "")


def test_an_empty_200_is_an_answer_check_failure_not_a_missing_reply() -> None:
    reply = parse_generation(200, chat_body("  ", tokens=1), None, True, 16)
    assert reply.error == EMPTY
    probe = answer("one-word", "q", reply, frozenset())
    assert probe.error is None and [c.name for c in probe.checks if not c.ok] == ["empty"]


def test_the_load_format_dummy_flag_is_read_in_both_spellings() -> None:
    assert dummy_weights(["vllm", "serve", "m", "--load-format", "dummy"])
    assert dummy_weights(["--load-format=dummy"])
    assert not dummy_weights(["--load-format", "safetensors", "dummy"])


def probe(
    name: str, endpoint: str, ok: bool, check: str = "artifacts", **more: object
) -> ProbeAnswer:
    checks = [CheckOutcome(name=check, ok=ok, detail="" if ok else f"{check} seen")]
    return ProbeAnswer(
        probe=name, endpoint=endpoint, prompt="p", max_tokens=16, http_status=200, checks=checks,
        **more,  # type: ignore[arg-type]
    )  # fmt: skip


def test_dummy_weights_show_the_checks_but_do_not_fail_on_random_shapes() -> None:
    report = judge([probe("one-word", "chat", False, "repetition")], dummy_weights=True)
    assert not report.judged and "dummy weights" in report.not_judged
    assert report.failing and not report.failed
    empty = judge([probe("one-word", "chat", False, "empty")], dummy_weights=True)
    assert empty.failed  # no model, random or not, should answer nothing


def test_a_rambling_raw_completion_alone_does_not_fail_the_run() -> None:
    plain = probe("one-word", "completions", False, "repetition", reference=True)
    report = judge([probe("one-word", "chat", True), plain])
    assert not report.failed and not report.findings


# --- the playbook against the fake vllm -----------------------------------------------


BROKEN = [
    ("commas", "repetition", "token ','"),
    ("special-tokens", "artifacts", "<|im_start|>"),
    ("one-token", "truncated", "after 1 token(s) of max_tokens 16"),
    ("bad-json", None, "not a chat completion"),
    ("non-utf8", "encoding", "not UTF-8"),
    ("huge-reply", "repetition", "18-gram"),  # 1.2 MB, cut before checking
]


@pytest.mark.parametrize(("scenario", "check", "evidence"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_200_that_is_not_an_answer_fails_on_output_quality(
    runner_config: RunnerConfig, scenario: str, check: str | None, evidence: str
) -> None:
    result = run(runner_config, scenario)
    assert result.status == "failed" and result.phase == "text smoke"
    assert result.verdict.startswith("failed: output quality"), result.verdict
    assert evidence in result.verdict
    assert result.first_error and result.first_error.signature == "output quality"
    assert any(evidence in line for line in result.first_error.lines)
    assert result.answers and result.answers.judged
    first = result.answers.probes[0]
    assert first.probe == "one-word" and first.endpoint == "chat" and first.prompt
    if check:
        assert any(c.name == check and not c.ok for c in first.checks)
    # Graph mode answers wrong: the runbook's next step is eager isolation.
    assert result.next and result.next.playbook == "eager"


def test_each_probe_is_deterministic_and_shown_with_its_prompt_and_reply(
    runner_config: RunnerConfig,
) -> None:
    result = run(runner_config, "healthy")
    assert result.status == "passed", (result.verdict, result.notes)
    assert result.answers is not None and not result.answers.failed
    probes = {(p.probe, p.endpoint): p for p in result.answers.probes}
    assert set(probes) == {
        ("one-word", "chat"), ("echo", "chat"), ("arithmetic", "chat"),
        ("one-word", "completions"),
    }  # fmt: skip
    for p in probes.values():
        assert p.prompt and p.reply.strip() and p.http_status == 200
        assert [c.name for c in p.checks] == ["empty", "artifacts", "repetition", "truncated"]
        assert all(c.ok for c in p.checks)
    # The first smoke reply is the one-word probe: the same text, not asked twice.
    assert probes[("one-word", "chat")].reply == (result.smoke["text"] or {})["content"]


def test_chat_echoing_its_template_while_completions_is_clean_is_a_template_mismatch(
    runner_config: RunnerConfig,
) -> None:
    result = run(runner_config, "template-echo")
    assert result.status == "failed"
    assert result.answers and result.answers.template_mismatch
    assert result.verdict.startswith(f"failed: output quality: {TEMPLATE_MISMATCH}")
    chat = next(p for p in result.answers.probes if p.endpoint == "chat")
    assert "<|im_start|>user" in chat.reply  # the template came back as the answer
    plain = next(p for p in result.answers.probes if p.endpoint == "completions")
    assert plain.ok
    assert result.next is None  # a relaunch does not change the template


def test_a_model_without_a_chat_template_is_judged_through_completions_only(
    runner_config: RunnerConfig,
) -> None:
    result = run(runner_config, "no-template")
    assert result.status == "passed", (result.verdict, result.notes)
    assert result.answers and result.answers.chat_template is False
    assert any("no chat template" in f and "completions only" in f for f in result.answers.findings)
    assert {p.endpoint for p in result.answers.probes} == {"completions"}
    assert (result.smoke["text"] or {})["endpoint"] == "completions"


def test_graph_mode_that_answers_wrong_fails_and_eager_of_the_same_model_passes(
    runner_config: RunnerConfig,
) -> None:
    graph = run(runner_config, "graph-garbles")
    assert graph.status == "failed" and "output quality" in graph.verdict
    assert graph.next and graph.next.playbook == "eager"
    eager = run(runner_config, "graph-garbles", playbook="eager")
    assert eager.status == "passed", eager.verdict
    assert "graph-only" in eager.verdict
    assert eager.answers and all(p.ok for p in eager.answers.probes)


def test_an_output_quality_failure_is_triaged_to_the_runbooks_quality_entry(
    runner_config: RunnerConfig, triager: Triager
) -> None:
    for scenario in ("commas", "one-token", "template-echo"):
        result = run(runner_config, scenario)
        found = result.triaged(triager.triage)
        assert found and found.top, scenario
        assert found.verdict == "match" and found.top.entry_id == QUALITY_ENTRY, (scenario, found)
        assert any("chat/completions" in a for a in found.top.actions)


def test_run_cli_prints_the_replies_the_check_table_and_the_quality_entry(tmp_path: Path) -> None:
    out = cli_run(tmp_path, "smoke", "--model", "fake/special-tokens")
    assert out.returncode == 1, out.stderr
    text = out.stdout
    assert "FAILED  failed: output quality" in text
    assert "Runbook match: API reachable but output quality odd (" in text
    assert "Answer checks: failed" in text
    assert "echo via /v1/chat/completions: Repeat exactly" in text
    assert "'<|im_start|>assistant\\nParis<|im_end|><|endoftext|>'" in text
    header = next(ln for ln in text.splitlines() if ln.split()[:2] == ["probe", "endpoint"])
    assert header.split()[2:] == ["empty", "artifacts", "repetition", "truncated"]
    as_json = json.loads(
        cli_run(tmp_path, "smoke", "--model", "fake/special-tokens", "--json").stdout
    )
    assert as_json["first_error"]["signature"] == "output quality"
    assert as_json["answers"]["probes"][0]["checks"][1] == {
        "name": "artifacts", "ok": False, "ratio": None,
        "detail": "special tokens in the reply: <|endoftext|>, <|im_end|>, <|im_start|>",
    }  # fmt: skip
