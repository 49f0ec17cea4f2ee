"""A model path must be under a model root once its links are followed: a symlink inside
a root that points out of it is refused with a clear message, on the bot and the agent."""

from __future__ import annotations

from pathlib import Path

import pytest

from runners import JobSpec, RunnerConfig, SpecError, parse_command, run_playbook
from runners.spec.job import check, check_model


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    """/models (the root) holding a real model, links in and out, and /secrets beside it."""
    tmp_path = tmp_path.resolve()
    (tmp_path / "models" / "qwen").mkdir(parents=True)
    (tmp_path / "models" / "qwen" / "config.json").write_text("{}")
    (tmp_path / "secrets" / "model").mkdir(parents=True)
    (tmp_path / "models" / "escape").symlink_to(tmp_path / "secrets")
    (tmp_path / "models" / "etc").symlink_to("/etc")
    (tmp_path / "models" / "hop").symlink_to(tmp_path / "models" / "escape")  # link to a link
    (tmp_path / "models" / "alias").symlink_to(tmp_path / "models" / "qwen")
    (tmp_path / "models" / "dir").mkdir()
    (tmp_path / "models" / "dir" / "up").symlink_to(tmp_path / "secrets" / "model")
    (tmp_path / "via-link").symlink_to(tmp_path / "models")  # a root that is itself a link
    return tmp_path


ESCAPES = ["escape", "escape/model", "etc", "etc/passwd", "hop/model", "dir/up"]


@pytest.mark.parametrize("rel", ESCAPES)
def test_a_link_out_of_the_root_is_refused_on_the_agent(disk: Path, rel: str) -> None:
    with pytest.raises(SpecError, match="outside the model roots") as refused:
        check_model(f"{disk}/models/{rel}", [str(disk / "models")])
    assert "link" in str(refused.value)
    spec = JobSpec(playbook="smoke", model=f"{disk}/models/{rel}")
    with pytest.raises(SpecError, match="outside the model roots"):
        check(spec, [str(disk / "models")])  # what the agent does before anything runs


@pytest.mark.parametrize("rel", ESCAPES)
def test_a_link_out_of_the_root_is_refused_on_the_bot(disk: Path, rel: str) -> None:
    spec = parse_command("smoke", f"{disk}/models/{rel}")
    with pytest.raises(SpecError, match="outside the model roots"):
        check(spec, [str(disk / "models")], strict_paths=False)  # the bot's own check


@pytest.mark.parametrize("rel", ["escape/../x", "dir/up/../model", "qwen/../alias"])
def test_dot_dot_in_a_model_path_is_refused(disk: Path, rel: str) -> None:
    """`escape/../x` is `secrets/../x` to the kernel, not `models/x` as the text reads; the
    bot cannot follow links on a host's disk, so `..` is refused outright."""
    (disk / "x").mkdir(exist_ok=True)
    with pytest.raises(SpecError, match=r"without `\.\.`"):
        check_model(f"{disk}/models/{rel}", [str(disk / "models")])
    with pytest.raises(SpecError, match=r"without `\.\.`"):
        parse_command("smoke", f"{disk}/models/{rel}")


def test_paths_inside_the_root_pass_resolved(disk: Path) -> None:
    root = [str(disk / "models")]
    assert check_model(f"{disk}/models/qwen", root) == f"{disk}/models/qwen"
    assert check_model(f"{disk}/models/alias", root) == f"{disk}/models/qwen"
    assert check_model(f"{disk}/via-link/qwen", root) == f"{disk}/models/qwen"
    assert check_model(f"{disk}/models/qwen", [str(disk / "via-link")]) == f"{disk}/models/qwen"
    assert (
        check_model(f"{disk}/models/not-yet-downloaded", root)
        == f"{disk}/models/not-yet-downloaded"
    )


def test_the_agent_refuses_the_job_before_it_launches_anything(disk: Path, tmp_path: Path) -> None:
    config = RunnerConfig(
        vllm_cmd=("/nonexistent/vllm",),
        port=0,
        work_dir=tmp_path / "runner",
        model_roots=(str(disk / "models"),),
    )
    result = run_playbook(JobSpec(playbook="smoke", model=f"{disk}/models/escape/model"), config)
    assert result.status == "blocked" and "outside the model roots" in result.verdict
    assert not (tmp_path / "runner" / "logs").exists()


def test_relative_roots_are_taken_from_where_the_agent_runs(
    disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(disk)
    assert check_model(f"{disk}/models/qwen", ["models"]) == f"{disk}/models/qwen"
    with pytest.raises(SpecError, match="outside the model roots"):
        check_model(f"{disk}/models/escape", ["models"])
