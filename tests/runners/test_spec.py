"""Job requests from chat: what is accepted, what is refused, and that nothing a person
types can smuggle a shell command, an unlisted flag or env name into a launch."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runners import JobSpec, SpecError, parse_command
from runners.spec.fallbacks import find_fallback
from runners.spec.job import (
    ENV_NAMES,
    FLAGS,
    check,
    check_args,
    check_env,
    check_model,
    launch_plan,
)

SHELL = set(";|&$`<>\n\r\\'\" ()")


def test_a_slash_command_becomes_a_canonical_spec() -> None:
    spec = parse_command(
        "smoke",
        "Qwen/Qwen2.5-VL-7B --vl --tp 2 --max_model_len=8192 --env HCCL_OP_EXPANSION_MODE=AIV "
        '--limit-mm-per-prompt \u2018{"image":1}\u2019 on a2,tp8',
    )
    assert spec.model == "Qwen/Qwen2.5-VL-7B" and spec.vl
    assert spec.args == (
        "--tensor-parallel-size", "2", "--max-model-len", "8192",
        "--limit-mm-per-prompt", '{"image":1}',
    )  # fmt: skip
    assert spec.env == {"HCCL_OP_EXPANSION_MODE": "AIV"}
    assert spec.labels == ("a2", "tp8")
    again = parse_command("smoke", spec.describe().removeprefix("/smoke "))
    assert again == spec, "describe() is how a person would type the same job"


def test_fallbacks_name_their_change_and_replace_the_flag_they_set() -> None:
    spec = parse_command(
        "fallback", "max-model-len=4096 org/m --max-model-len 32768 --enforce-eager"
    )
    args, env, fallback = launch_plan(spec)
    assert fallback is not None and fallback.name == "max-model-len"
    assert args == ("--enforce-eager", "--max-model-len", "4096")
    args, env, _ = launch_plan(parse_command("fallback", "torchdynamo-disable org/m"))
    assert env == {"TORCHDYNAMO_DISABLE": "1"} and args == ()
    args, _, _ = launch_plan(parse_command("fallback", "text-only org/m --vl"))
    assert json.loads(args[args.index("--limit-mm-per-prompt") + 1]) == {
        "image": 0, "video": 0, "audio": 0,
    }  # fmt: skip
    assert launch_plan(parse_command("eager", "org/m"))[0] == ("--enforce-eager",)


@pytest.mark.parametrize(
    ("playbook", "text", "why"),
    [
        ("smoke", "", "<model>"),
        ("smoke", "--enforce-eager", "<model>"),
        ("smoke", "org/m --port 9000", "runner's own"),
        ("smoke", "org/m --host 0.0.0.0", "runner's own"),
        ("smoke", "org/m --chat-template /etc/passwd", "not an allowed serve argument"),
        ("smoke", "org/m --trust-remote-code", "has not allowed it"),
        ("smoke", 'org/m --speculative-config \'{"model":"x"}\'', "not an allowed serve"),
        ("smoke", 'org/m -O \'{"debug_dump_path":"/tmp/x"}\'', "not a valid value"),
        ("smoke", 'org/m --hf-overrides \'{"auto_map":{"a":"evil.py"}}\'', "not a valid"),
        ("smoke", "org/m --max-model-len 8k;rm", "not a valid value"),
        ("smoke", "org/m --compilation-config '{broken'", "not a valid value"),
        ("smoke", "org/m --env LD_PRELOAD=/tmp/x.so", "not an allowed environment"),
        ("smoke", "org/m --env TORCHDYNAMO_DISABLE=$(id)", "may hold only"),
        ("smoke", "'org/m; rm -rf /'", "neither a model name"),
        ("smoke", "../../etc", "neither a model name"),
        ("smoke", "/data/models/qwen", "no model roots"),
        ("smoke", 'org/m "unclosed', "cannot read"),
        ("fallback", "org/m", "not a fallback"),
        ("fallback", "max-model-len org/m", "whole number"),
        ("fallback", "hccl-aiv=3 org/m", "takes no value"),
    ],
)
def test_refused_requests_say_why(playbook: str, text: str, why: str) -> None:
    with pytest.raises(SpecError, match=why):
        spec = parse_command(playbook, text)  # type: ignore[arg-type]
        check(spec, model_roots=())  # what the agent does on its host


def test_model_paths_must_stay_under_a_root() -> None:
    assert check_model("/data/models/qwen", ["/data/models"]) == "/data/models/qwen"
    with pytest.raises(SpecError, match="not under a model root"):
        check_model("/data/models/../../etc/shadow", ["/data/models"])
    with pytest.raises(SpecError, match="not under a model root"):
        check_model("/data/models-evil/x", ["/data/models"])


words = st.text(alphabet=string.printable, max_size=40)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(words, st.sampled_from(sorted(FLAGS))), max_size=8))
def test_accepted_args_only_hold_listed_flags_and_safe_values(args: list[str]) -> None:
    try:
        out = check_args(args)
    except SpecError:
        return
    i = 0
    while i < len(out):
        flag = out[i]
        assert flag in FLAGS
        if FLAGS[flag] is None:
            i += 1
            continue
        value = out[i + 1]
        if flag.endswith(("-config", "-prompt", "-overrides")):
            json.loads(value)  # JSON values are passed as one argv item, never parsed by a shell
        else:
            assert not (set(value) & SHELL), f"{flag} {value!r}"
            assert not value.startswith("-")
        i += 2


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.one_of(words, st.sampled_from(sorted(ENV_NAMES))), words, max_size=4))
def test_accepted_env_is_listed_names_with_plain_values(env: dict[str, str]) -> None:
    try:
        out = check_env(env)
    except SpecError:
        return
    for name, value in out.items():
        assert name in ENV_NAMES
        assert not (set(value) & SHELL)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_model_text_is_a_safe_name_a_rooted_path_or_refused(model: str) -> None:
    try:
        out = check_model(model, ["/models"])
    except SpecError:
        return
    assert not out.startswith("-")
    assert not (set(out) & SHELL)
    assert out.startswith("/models/") or ".." not in out


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_any_command_text_parses_to_a_checked_spec_or_a_clear_refusal(text: str) -> None:
    try:
        spec = parse_command("smoke", text)
    except SpecError as exc:
        assert str(exc)
        return
    assert isinstance(spec, JobSpec)
    assert check(spec, strict_paths=False) == spec  # already canonical


def test_every_fallback_is_known_by_name() -> None:
    for name in ("torchdynamo-disable", "hccl-aiv", "max-model-len=8192", "text-only"):
        assert find_fallback(name)[0].name == name.split("=")[0]


def test_remote_code_only_where_the_operator_allows_it() -> None:
    spec = parse_command("smoke", "org/m --trust-remote-code", remote_code=True)
    assert spec.args == ("--trust-remote-code",)
    with pytest.raises(SpecError, match="ONCALL_ALLOW_REMOTE_CODE"):
        check(spec)  # an agent that does not allow it refuses the job itself
    assert check(spec, remote_code=True) == spec
