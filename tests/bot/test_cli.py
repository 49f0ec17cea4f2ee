"""The `ascend-oncall` command line, as users and scripts call it (DESIGN.md contract)."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.coordinator import _ago
from bot.settings import Settings
from runners import JobSpec, RunnerConfig, run_playbook
from runners.store.jobstore import open_jobs
from tests.databases import database
from tests.fakes.slack import FakeSlack
from tests.runners.conftest import FAKE_CMD
from tests.runners.test_agent import Host

ACL = (
    "(EngineCore_DP0 pid=3) ERROR 11-28 10:00:00 [core.py:700] RuntimeError: capture_end: NPU "
    "function error: c10_npu::acl::AclmdlRICaptureEnd(capture_stream_, &model_ri), error code is 507903\n"
    "(APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above.\n"
)

pytestmark = pytest.mark.usefixtures("isolated_env")
runner = CliRunner()


def test_triage_json_follows_the_contract(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text(ACL)
    result = runner.invoke(app, ["triage", str(log), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["verdict"] == "match"
    assert answer["signature"].endswith("error code is 507903")
    best = answer["matches"][0]
    assert set(best) >= {"entry_id", "title", "score", "confidence", "evidence", "actions"}
    assert best["entry_id"] == "acl-graph-capture-fails-507903"
    assert best["title"] == "ACL graph capture fails (507903)"
    assert best["confidence"] == "high" and 0 <= best["score"] <= 1
    assert any("507903" in line for line in best["evidence"])
    assert best["actions"][0] == "Prefer `HCCL_OP_EXPANSION_MODE=AIV` for graph capture stability."


def test_triage_reads_stdin_and_top_sets_the_candidates() -> None:
    result = runner.invoke(app, ["triage", "-", "--json", "--top", "5"], input=ACL)
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["matches"]) == 5


def test_triage_human_output_names_entry_evidence_and_numbered_actions(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text(ACL)
    result = runner.invoke(app, ["triage", str(log)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "ACL graph capture fails (507903)" in result.stdout
    assert "1. Prefer" in result.stdout or "1 Prefer" in result.stdout
    assert "error code is 507903" in result.stdout


def test_no_match_is_said_honestly(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("RuntimeError: CUDA error: device-side assert triggered\n")
    as_json = json.loads(runner.invoke(app, ["triage", str(log), "--json"]).stdout)
    assert as_json["verdict"] == "no_match"
    text = runner.invoke(app, ["triage", str(log)], env={"COLUMNS": "200"}).stdout
    assert "No runbook entry matches this" in text


def test_jsonl_answers_every_line_in_order_and_bad_lines_get_an_error(tmp_path: Path) -> None:
    cases = tmp_path / "in.jsonl"
    cases.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "text": ACL}),
                "not json at all",
                json.dumps({"text": ""}),
                json.dumps({"id": "d", "text": "OSError: [Errno 98] Address already in use"}),
                json.dumps({"txt": "wrong field"}),
            ]
        )
    )
    result = runner.invoke(app, ["triage", "--jsonl", str(cases)])
    assert result.exit_code == 1, result.output  # a script must notice the failed lines
    assert "3 of 5 line(s) could not be triaged" in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 5
    assert (
        lines[0]["id"] == "a"
        and lines[0]["matches"][0]["entry_id"] == "acl-graph-capture-fails-507903"
    )
    assert "line 2" in lines[1]["error"]
    assert "nothing to triage" in lines[2]["error"]
    assert lines[3]["id"] == "d" and lines[3]["verdict"] == "match"
    assert "line 5" in lines[4]["error"]


def test_empty_and_binary_files_fail_with_a_clear_message(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    binary = tmp_path / "core.bin"
    binary.write_bytes(bytes(range(256)) * 100)
    for path, message in ((empty, "nothing to triage"), (binary, "looks binary")):
        result = runner.invoke(app, ["triage", str(path)])
        assert result.exit_code == 1
        assert message in result.stderr
    missing = runner.invoke(app, ["triage", str(tmp_path / "nope.log")])
    assert missing.exit_code == 1 and "cannot read" in missing.stderr


def test_unknown_flag_is_a_usage_error() -> None:
    result = runner.invoke(app, ["triage", "--frobnicate"])
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_markup_like_text_in_runbooks_is_printed_as_is(tmp_path: Path) -> None:
    bad = tmp_path / "rb.md"
    bad.write_text("## A\nSymptoms:\n- a\nActions:\n[rank0]: foo [/] bar\n")
    result = runner.invoke(app, ["kb", "lint", "--no-default-kb", "--kb", str(bad)])
    assert result.exit_code == 1
    assert "'[rank0]: foo [/] bar'" in result.stdout


def test_no_runbook_at_all_is_a_clear_error() -> None:
    lint = runner.invoke(app, ["kb", "lint", "--no-default-kb"])
    assert lint.exit_code == 1 and "no runbook configured" in lint.stdout
    triage = runner.invoke(app, ["triage", "-", "--no-default-kb"], input="RuntimeError: x\n")
    assert triage.exit_code == 1 and "no runbook configured" in triage.stderr


def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_MAX_INPUT_BYTES", "lots")
    result = runner.invoke(app, ["triage", "-"], input="x\n")
    assert result.exit_code == 1
    assert "ONCALL_MAX_INPUT_BYTES" in result.stderr and "Traceback" not in result.output


def test_kb_lint_passes_the_shipped_runbook_and_reports_file_line(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["kb", "lint"])
    assert ok.exit_code == 0 and "ok: 17 entries" in ok.stdout
    bad = tmp_path / "team.md"
    bad.write_text("## Broken entry\n\nSymptoms:\n\n- x\n")
    result = runner.invoke(app, ["kb", "lint", "--kb", str(bad)], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert f"{bad}:1: section 'Broken entry' has no 'Actions:' list" in result.stdout


def test_extra_runbook_entries_are_triaged(tmp_path: Path) -> None:
    extra = tmp_path / "team.md"
    extra.write_text(
        "## NPU out of memory during profiling\n\nSymptoms:\n\n- `NPU out of memory. Tried to allocate`\n\n"
        "Actions:\n\n1. Lower `--gpu-memory-utilization`.\n"
    )
    log = tmp_path / "oom.log"
    log.write_text(
        "torch.OutOfMemoryError: NPU out of memory. Tried to allocate 3.00 GiB (NPU 0)\n"
    )
    answer = json.loads(
        runner.invoke(app, ["triage", str(log), "--json", "--kb", str(extra)]).stdout
    )
    assert answer["matches"][0]["entry_id"] == "npu-out-of-memory-during-profiling"
    assert answer["verdict"] == "match"


def test_kb_search_finds_entries_by_words() -> None:
    result = runner.invoke(app, ["kb", "search", "graph", "capture", "507903", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found[0]["entry_id"] == "acl-graph-capture-fails-507903"
    assert found[0]["actions"]
    words = runner.invoke(app, ["kb", "search", "port", "already", "bound"], env={"COLUMNS": "200"})
    assert "Server fails to bind" in words.stdout


def test_kb_eval_prints_metrics_and_per_entry_table(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        json.dumps(
            {"id": "p", "text": ACL, "expected": "acl-graph-capture-fails-507903", "source": "s"}
        )
        + "\n"
        + json.dumps({"id": "n", "text": "hello, lunch?", "expected": None, "source": "s"})
        + "\n"
    )
    result = runner.invoke(app, ["kb", "eval", str(cases), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["metrics"]["top1"] == 1.0 and report["metrics"]["abstain"] == 1.0
    assert report["per_entry"]["acl-graph-capture-fails-507903"] == {
        "cases": 1,
        "top1": 1,
        "top3": 1,
    }
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"text": "x", "expected": "no-such-entry", "source": "s"}) + "\n")
    refused = runner.invoke(app, ["kb", "eval", str(wrong)])
    assert refused.exit_code == 1 and "no-such-entry" in refused.stderr
    assert "wrong.jsonl:1" in refused.stderr
    unsourced = tmp_path / "unsourced.jsonl"
    unsourced.write_text(json.dumps({"text": "x", "expected": None}) + "\n")
    refused = runner.invoke(app, ["kb", "eval", str(unsourced)])
    assert refused.exit_code == 1 and "unsourced.jsonl:1: source" in refused.stderr


def test_console_script_runs_as_a_real_process(tmp_path: Path, cache_dir: Path) -> None:
    exe = Path(sys.executable).with_name("ascend-oncall")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
    env["ONCALL_CACHE_DIR"] = str(cache_dir)
    done = subprocess.run(
        [str(exe), "triage", "-", "--json"],
        input=ACL.encode(),
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["matches"][0]["entry_id"] == "acl-graph-capture-fails-507903"
    assert b"Traceback" not in done.stderr


def test_serve_without_slack_tokens_says_what_is_missing(
    isolated_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(key, raising=False)
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "SLACK_BOT_TOKEN is not set" in result.stderr
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-value")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET" in result.stderr
    assert "xoxb-secret-value" not in result.stderr + result.stdout


def test_slack_manifest_for_http_and_socket_mode() -> None:
    http = runner.invoke(app, ["slack-manifest", "--url", "https://bot.example.org/slack/events"])
    assert http.exit_code == 0
    assert http.stdout.count("https://bot.example.org/slack/events") == 10  # 8 commands, 2 more
    assert "command: /triage" in http.stdout and "callback_id: triage_message" in http.stdout
    parsed = yaml.safe_load(http.stdout)
    assert (
        parsed["settings"]["event_subscriptions"]["request_url"]
        == "https://bot.example.org/slack/events"
    )
    commands = {c["command"] for c in parsed["features"]["slash_commands"]}
    assert commands == {
        "/triage",
        "/runbook",
        "/smoke",
        "/eager",
        "/fallback",
        "/doctor",
        "/autopilot",
        "/runners",
    }
    assert parsed["features"]["app_home"]["messages_tab_enabled"] is True  # DMs reach the bot
    socket_text = runner.invoke(app, ["slack-manifest", "--socket"]).stdout
    comments = [line for line in socket_text.splitlines() if line.startswith("#")]
    assert comments and not any("replace" in line or "URLs" in line for line in comments)
    socket = yaml.safe_load(socket_text)
    assert socket["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in socket["settings"]["event_subscriptions"]
    assert all("url" not in c for c in socket["features"]["slash_commands"])


def test_slack_manifest_refuses_a_url_slack_could_not_use() -> None:
    for args in (
        ["--url", "foo"],
        ["--url", "https://x.org/"],
        ["--url", "https://x.org/slack/events", "--socket"],
    ):
        result = runner.invoke(app, ["slack-manifest", *args])
        assert result.exit_code == 2, args


def test_bad_database_url_is_a_clear_error(
    isolated_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONCALL_DATABASE_URL", "bogus")
    result = runner.invoke(app, ["console"], input="/quit\n")
    assert result.exit_code == 1
    assert "cannot open the database" in result.stderr and "ONCALL_DATABASE_URL" in result.stderr


def test_jsonl_from_stdin(isolated_env: None) -> None:
    lines = (
        '{"id": 1, "text": "RuntimeError: call aclnnFusedInferAttentionScore failed"}\n{"id": 2}\n'
    )
    result = runner.invoke(app, ["triage", "--jsonl", "-"], input=lines)
    assert result.exit_code == 1 and "1 of 2 line(s)" in result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert answers[0]["matches"][0]["entry_id"] == "mla-attention-runtime-failures-after-ready"
    assert answers[1] == {
        "id": 2,
        "verdict": "error",
        "error": 'line 2: no "text" string in the object',
    }
    good = runner.invoke(app, ["triage", "--jsonl", "-"], input=lines.splitlines()[0] + "\n")
    assert good.exit_code == 0 and good.stderr == ""


def test_version_prints_the_installed_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"ascend-oncall {version('ascend-oncall')}\n"


def test_shell_completion_completes_commands() -> None:
    asked = {
        "_ASCEND_ONCALL_COMPLETE": "complete_bash",
        "COMP_WORDS": "ascend-oncall coordinator a",
        "COMP_CWORD": "2",
    }
    result = runner.invoke(app, [], env=asked, prog_name="ascend-oncall")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["add-agent", "agents"]
    script = runner.invoke(app, ["--show-completion", "bash"], prog_name="ascend-oncall")
    assert "_ASCEND_ONCALL_COMPLETE" in script.stdout


def _command_paths(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _command_paths(sub, (*path, name))


def test_every_help_page_shows_placeholders_not_python_types() -> None:
    paths = list(_command_paths(typer.main.get_command(app)))
    assert ("coordinator", "agents") in paths and ("kb", "eval") in paths and ("run",) in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, path
        for typed in ("<bool>", "<list[", "<str>", "<int", "<float>", "<path>"):
            assert typed not in result.stdout, (path, typed)
        usage = next(line for line in result.stdout.splitlines() if "Usage:" in line)
        assert "{" not in usage, usage  # a required argument is NAME, not a set {NAME}
        for line in result.stdout.splitlines():
            if line.strip("│ ").startswith("--"):
                assert "[default:" not in line or "(default" not in line, line  # said once
    triage = runner.invoke(app, ["triage", "--help"], env={"COLUMNS": "200"}).stdout
    assert "[LOG]" in triage and "--jsonl                FILE" in triage


def test_postgres_urls_mean_postgresql_through_psycopg() -> None:
    for given in ("postgres://u:pw@db:5432/oncall", "postgresql://u:pw@db:5432/oncall"):
        assert (
            Settings(database_url=given).database_url == "postgresql+psycopg://u:pw@db:5432/oncall"
        )
    for kept in ("postgresql+psycopg://u@db/x", "sqlite:///x.db"):
        assert Settings(database_url=kept).database_url == kept


def test_a_postgres_url_in_the_environment_opens_the_database(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).with_name("ascend-oncall"))

    def coordinator(url: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "ONCALL_DATABASE_URL": url}
        cmd = [exe, "coordinator", *args]
        return subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    with database("postgresql", tmp_path) as url:
        made = coordinator(url.replace("postgresql+psycopg:", "postgres:"), "add-agent", "npu-pg")
        assert made.returncode == 0, made.stderr
        listed = coordinator(url.replace("postgresql+psycopg:", "postgresql:"), "agents", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [a["name"] for a in json.loads(listed.stdout)] == ["npu-pg"]


def test_coordinator_agents_is_a_table_with_last_seen_and_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'oncall.db'}"
    store = open_jobs(url)
    store.add_agent("idle-host")
    token = store.add_agent("npu-a2", ["a2"])
    me = store.register(store.agent_for(token), ["a2"], "host-7", "0.1.0", 1)
    job = store.submit(JobSpec(playbook="smoke", model="Qwen/Qwen3-8B", labels=("a2",)))
    assert store.lease(me) is not None
    store.engine.dispose()
    monkeypatch.setenv("ONCALL_DATABASE_URL", url)
    result = runner.invoke(app, ["coordinator", "agents"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "never" in rows["idle-host"] and "None" not in result.stdout
    assert "host-7" in rows["npu-a2"] and " s ago" in rows["npu-a2"]
    assert f"{job.id} smoke Qwen/Qwen3-8B" in rows["npu-a2"]
    revoked = runner.invoke(app, ["coordinator", "revoke", "idle-host"])
    assert revoked.exit_code == 0 and "revoked idle-host" in revoked.stderr


def test_last_seen_reads_as_time_ago() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert _ago(None, now) == "never"
    assert _ago(now - timedelta(seconds=130), now) == "2 min ago"
    assert _ago(now - timedelta(hours=5), now) == "5 h ago"


def test_an_agent_refused_a_label_says_which_its_token_allows(tmp_path: Path) -> None:
    host = Host(tmp_path)
    try:
        host.coordinator()
        proc = host.agent(host.store.add_agent("npu-a2", ["a2"]), "a2", "a3")
        assert proc.wait(60) == 1
        said = host.logs()
        assert "may not claim the labels a3: its token allows npu-a2, a2" in said
        assert "`ascend-oncall coordinator add-agent NAME --label a2 --label a3`" in said
    finally:
        host.close()


def test_serve_checks_the_slack_token_before_loading_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-the-apps-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    # No model there: loading it first would fail with a model error instead.
    monkeypatch.setenv("ONCALL_MODEL_PATH", str(tmp_path / "no-model"))
    monkeypatch.setenv("ONCALL_DATABASE_URL", f"sqlite:///{tmp_path / 'oncall.db'}")
    with FakeSlack() as slack:
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        result = runner.invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 1
    assert "Slack refused the bot token (SLACK_BOT_TOKEN): invalid_auth" in result.stderr
    assert "model" not in result.stderr


def test_run_blocks_a_model_path_that_does_not_exist(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    env = {**os.environ, "ONCALL_RUNNER_DIR": str(tmp_path / "runner")}
    cmd = [str(Path(sys.executable).with_name("ascend-oncall")), "run", "smoke", "--json"]
    cmd += ["--model", f"{models}/Nope", "--model-root", str(models), "--port", "0"]
    cmd += ["--vllm-cmd", " ".join(FAKE_CMD)]  # the fake would pass any model it is given
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 3, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "blocked" and result["phase"] == "preflight"
    assert result["verdict"] == f"blocked: the model path {models}/Nope does not exist on this host"


def test_a_file_is_not_a_model_folder(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    weights = tmp_path / "models" / "model.safetensors"
    weights.write_bytes(b"\0")
    config = RunnerConfig(
        vllm_cmd=FAKE_CMD, port=0, work_dir=tmp_path / "runner", model_roots=(str(weights.parent),)
    )
    result = run_playbook(JobSpec(playbook="smoke", model=str(weights)), config)
    assert result.status == "blocked" and f"{weights} is not a folder" in result.verdict


def test_at_a_terminal_the_cli_says_what_it_loads_and_nothing_when_piped(tmp_path: Path) -> None:
    import pty

    log = tmp_path / "a.log"
    log.write_text(ACL)
    exe = str(Path(sys.executable).with_name("ascend-oncall"))
    seen = bytearray()

    def read(fd: int) -> bytes:
        data = os.read(fd, 4096)
        seen.extend(data)
        return data

    # A pseudo-terminal: rich shows its status on stderr, as a person would see it.
    status = pty.spawn([exe, "triage", str(log)], read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"loading the runbook index" in seen
    piped = subprocess.run([exe, "triage", str(log)], capture_output=True, text=True, check=False)
    assert piped.returncode == 0 and piped.stderr == ""


def test_a_bot_command_on_an_agent_only_install_says_which_extra_to_add(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text(ACL)
    script = (
        "import sys\n"
        "for name in ('bm25s', 'faiss', 'onnxruntime', 'sentence_transformers'):\n"
        "    sys.modules[name] = None  # as if the `bot` extra were not installed\n"
        f"sys.argv = ['ascend-oncall', 'triage', {str(log)!r}]\n"
        "from bot.cli import main\nmain()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1, done.stderr
    assert "pip install 'ascend-oncall[bot]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_shell_completes_the_playbooks_of_run() -> None:
    exe = str(Path(sys.executable).with_name("ascend-oncall"))
    env = {
        **os.environ,
        "_ASCEND_ONCALL_COMPLETE": "complete_bash",
        "COMP_WORDS": "ascend-oncall run ",
        "COMP_CWORD": "2",
    }
    done = subprocess.run([exe], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.split() == ["smoke", "eager", "fallback", "autopilot"], (
        done.stdout + done.stderr
    )


def test_serve_against_an_unreachable_slack_says_one_clear_line(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).with_name("ascend-oncall"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ONCALL_"))}
    env |= {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "secret",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",  # nothing listens on port 9
        "ONCALL_DATABASE_URL": f"sqlite:///{tmp_path / 'oncall.db'}",
    }
    done = subprocess.run(
        [exe, "serve", "--port", "0"], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: cannot reach Slack"), lines
