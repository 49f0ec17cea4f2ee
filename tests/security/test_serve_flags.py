"""JSON-valued serve flags name no code, file or path: each flag has its own typed key
allow-list, and a value that is too deep or too big is refused before it is parsed.

The payloads are the red-team's (`-O '{"backend":"os.system"}'` passed the bot and the
agent) and their neighbours; none may reach an argv."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runners import SpecError, parse_command
from runners.spec.job import JobSpec, check, check_args

EXE = str(Path(sys.executable).with_name("ascend-oncall"))

# (serve args, a word the refusal must say)
REFUSED: list[tuple[list[str], str]] = [
    (["-O", '{"backend":"os.system"}'], "backend"),
    (["-O", '{"backend":"subprocess.getoutput"}'], "backend"),
    (["--compilation-config", '{"backend":"torch._dynamo.backends.debugging.eager"}'], "backend"),
    (["-O", '{"backend":"os\\u002esystem"}'], "backend"),
    (["-O", '{"back\\u0065nd":"os.system"}'], "backend"),
    (["-O", '{"backend":"eager","backend":"os.system"}'], "twice"),
    (["-O", '{"inductor_passes":{"p":"subprocess.getoutput"}}'], "inductor_passes"),
    (["-O", '{"inductor_compile_config":{"cpp.cxx":"bash"}}'], "inductor_compile_config"),
    (["-O", '{"cache_dir":"/tmp/x"}'], "cache_dir"),
    (["-O", '{"cache_dir":"../../x"}'], "cache_dir"),
    (["-O", '{"debug_dump_path":"/tmp/x"}'], "debug_dump_path"),
    (["-O", '{"custom_ops":["os.system"]}'], "custom_ops"),
    (["-O", '{"custom_ops":["../x"]}'], "custom_ops"),
    (["-O", '{"splitting_ops":["os.system"]}'], "splitting_ops"),
    (["-O", '{"cudagraph_mode":"os.system"}'], "cudagraph_mode"),
    (["-O", '{"cudagraph_capture_sizes":["1; id"]}'], "cudagraph_capture_sizes"),
    (["-O", '{"cudagraph_capture_sizes":[1.5]}'], "cudagraph_capture_sizes"),
    (["-O", '{"level":"3"}'], "level"),
    (["-O", '{"level":true}'], "level"),
    (["-O", '{"level":NaN}'], "NaN"),
    (["-O", '{"mode":Infinity}'], "Infinity"),
    (["-O", '{"use_inductor":"yes"}'], "use_inductor"),
    (["-O", '{"pass_config":{"x.y":true}}'], "x.y"),
    (["-O", '{"pass_config":{"enable_sp":"os.system"}}'], "enable_sp"),
    (["-O", '{"dynamic_shapes_config":{"type":"os.system"}}'], "type"),
    (["-O", '["backend","os.system"]'], "object"),
    (["-O", '"os.system"'], "object"),
    (["-O", "{broken"], "JSON"),
    (["-O", '{"backend":"eager"} {"backend":"os.system"}'], "JSON"),
    (["-O.backend=os.system"], "not an allowed serve argument"),
    (["--compilation-config.backend=os.system"], "not an allowed serve argument"),
    (["--compilation-config.inductor_passes.p=subprocess.getoutput"], "not an allowed"),
    (["-O3"], "not an allowed serve argument"),
    (["--additional-config", '{"expert_map_path":"/etc/passwd"}'], "expert_map_path"),
    (["--additional-config", '{"dump_config_path":"/tmp/dump.json"}'], "dump_config_path"),
    (["--additional-config", '{"dump_config":{"task":"tensor"}}'], "dump_config"),
    (["--additional-config", '{"eplb_config":{"expert_map_path":"/x"}}'], "expert_map_path"),
    (
        ["--additional-config", '{"ascend_scheduler_config":{"scheduler_cls":"os.system"}}'],
        "scheduler_cls",
    ),
    (["--additional-config", '{"torchair_graph_config":{"enabled":"os.system"}}'], "enabled"),
    (["--additional-config", '{"torchair_graph_config":{"mode":"../../x"}}'], "mode"),
    (
        ["--additional-config", '{"ascend_compilation_config":{"backend":"os.system"}}'],
        "backend",
    ),
    (["--additional-config", '{"a.b":1}'], "a.b"),
    (["--additional_config", '{"weight_nz_mode":"1;id"}'], "weight_nz_mode"),
    (["--hf-overrides", '{"auto_map":{"AutoConfig":"evil.Config"}}'], "auto_map"),
    (["--hf-overrides", '{"tokenizer_class":"evil.Tokenizer"}'], "tokenizer_class"),
    (["--hf-overrides", '{"architectures":["os.system"]}'], "architectures"),
    (["--hf-overrides", '{"architectures":"Qwen3ForCausalLM"}'], "architectures"),
    (["--hf-overrides", '{"_name_or_path":"/etc"}'], "_name_or_path"),
    (["--hf-overrides", '{"text_config":{"auto_map":{"a":"b.c"}}}'], "auto_map"),
    (["--hf-overrides", '{"rope_scaling":{"rope_type":"../x"}}'], "rope_type"),
    (["--limit-mm-per-prompt", '{"image":"../x"}'], "image"),
    (["--limit-mm-per-prompt", '{"image":{"count":1,"path":"/x"}}'], "path"),
    (["--limit-mm-per-prompt", '{"document":1}'], "document"),
    (["--limit-mm-per-prompt", '{"image":-1}'], "image"),
    (["--speculative-config", '{"model":"evil/draft"}'], "not an allowed serve argument"),
    (["--speculative-config", '{"method":"ngram"}'], "not an allowed serve argument"),
    (["--kv-transfer-config", '{"kv_connector_module_path":"evil"}'], "not an allowed serve"),
    (["--kv_transfer_config", '{"kv_connector":"X"}'], "not an allowed serve argument"),
]

ACCEPTED: list[list[str]] = [
    ["-O", '{"backend":"eager"}'],
    ["-O", '{"backend":""}'],
    ["-O", '{"backend":"inductor","level":3}'],
    ["-O", '{"mode":"VLLM_COMPILE","cudagraph_mode":"full_decode_only"}'],
    ["-O", '{"cudagraph_mode":"FULL_DECODE_ONLY","cudagraph_capture_sizes":[1,2,4,8,16]}'],
    ["-O", '{"level":0,"use_inductor":false,"use_cudagraph":true}'],
    ["-O", '{"custom_ops":["none","+rms_norm","-silu_and_mul"],"splitting_ops":[]}'],
    ["-O", '{"splitting_ops":["vllm::unified_ascend_attention_with_output"]}'],
    ["-O", '{"pass_config":{"enable_sp":true,"fuse_norm_quant":false},"compile_sizes":[1,8]}'],
    ["--compilation-config", '{"max_cudagraph_capture_size":256,"cudagraph_num_of_warmups":1}'],
    ["--additional-config", '{"ascend_compilation_config":{"enable_npugraph_ex":true}}'],
    ["--additional-config", '{"torchair_graph_config":{"enabled":true,"graph_batch_sizes":[1,2]}}'],
    [
        "--additional-config",
        '{"ascend_scheduler_config":{"enabled":true},"enable_flashcomm1":true}',
    ],
    [
        "--additional-config",
        '{"weight_prefetch_config":{"enabled":true,"prefetch_ratio":'
        '{"attn":{"qkv":1.0,"o":1.0},"moe":{"gate_up":0.8}}},"weight_nz_mode":2}',
    ],
    ["--hf-overrides", '{"architectures":["Qwen3ForCausalLM"],"max_position_embeddings":65536}'],
    [
        "--hf-overrides",
        '{"rope_scaling":{"rope_type":"yarn","factor":4.0,'
        '"original_max_position_embeddings":32768}}',
    ],
    ["--hf-overrides", '{"text_config":{"num_hidden_layers":2}}'],
    ["--limit-mm-per-prompt", '{"image":2,"video":0,"audio":0}'],
    ["--limit-mm-per-prompt", '{"image":{"count":1,"width":512,"height":512}}'],
]


@pytest.mark.parametrize(("args", "why"), REFUSED, ids=[" ".join(a)[:70] for a, _ in REFUSED])
def test_json_flags_naming_code_paths_or_unknown_keys_are_refused(
    args: list[str], why: str
) -> None:
    with pytest.raises(SpecError, match=r"not a valid value|not an allowed") as refused:
        check_args(args)
    assert why in str(refused.value)
    # the agent checks the spec again on its host: a coordinator's word is not enough
    with pytest.raises(SpecError):
        check(JobSpec(playbook="smoke", model="org/m", args=tuple(args)))


@pytest.mark.parametrize("args", ACCEPTED, ids=[a[1][:60] for a in ACCEPTED])
def test_the_documented_keys_pass_as_one_canonical_json_argument(args: list[str]) -> None:
    out = check_args(args)
    assert len(out) == 2 and json.loads(out[1]) == json.loads(args[1])
    assert check_args(out) == out  # the agent's second check sees the same thing


def test_what_vllm_parses_is_what_was_checked() -> None:
    """The argv holds the checked object re-serialised, not the text as typed: no escape,
    whitespace or duplicate-key trick can mean one thing here and another to vLLM."""
    (flag, value) = check_args(["-O", '{ "backend" : "eager" ,\n "level" : 0 }'])
    assert flag == "--compilation-config" and value == '{"backend":"eager","level":0}'


@pytest.mark.parametrize("depth", [7, 50, 350, 999])
def test_deeply_nested_json_is_a_clear_refusal_not_a_crash(depth: int) -> None:
    texts = ["[" * depth + "]" * depth, '[{"a":' * (depth // 2) + "1" + "}]" * (depth // 2)]
    for text in [t for t in texts if len(t) <= 2000]:
        with pytest.raises(SpecError, match="nested"):
            check_args(["-O", text])
        with pytest.raises(SpecError, match="nested"):  # the bot's path: a refusal it audits
            parse_command("smoke", f"org/m -O '{text}'")


def test_an_oversized_json_value_is_refused_before_it_is_parsed() -> None:
    sizes = json.dumps({"cudagraph_capture_sizes": list(range(1, 2000))})
    with pytest.raises(SpecError, match="longer than"):
        check_args(["-O", sizes])


def test_the_red_team_payload_is_refused_by_run_with_a_usage_error(tmp_path: Path) -> None:
    env = {**os.environ, "ONCALL_RUNNER_DIR": str(tmp_path / "runner")}
    cmd = [EXE, "run", "smoke", "--model", "org/m", "--", "-O", '{"backend":"os.system"}']
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2 and "backend" in out.stderr, out.stderr


_KEYS = st.sampled_from(
    ["backend", "level", "mode", "custom_ops", "splitting_ops", "cudagraph_mode",
     "cudagraph_capture_sizes", "pass_config", "enable_sp", "inductor_passes", "cache_dir",
     "torchair_graph_config", "enabled", "graph_batch_sizes", "ascend_compilation_config",
     "architectures", "rope_scaling", "rope_type", "text_config", "image", "count", "auto_map"]
)  # fmt: skip
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False),
    st.sampled_from(["eager", "inductor", "os.system", "/etc/passwd", "../x", "FULL", "+rms_norm",
                     "vllm::x", "a.b", "Qwen3ForCausalLM", "yarn", "max-autotune", ""]),
    st.text(max_size=12),
)  # fmt: skip
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(_KEYS, st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(["-O", "--additional-config", "--hf-overrides", "--limit-mm-per-prompt"]), _JSON
)
def test_no_json_a_flag_accepts_holds_a_dotted_name_a_path_or_dot_dot(
    flag: str, value: object
) -> None:
    try:
        (_, out) = check_args([flag, json.dumps(value)])
    except SpecError:
        return

    def strings(v: object) -> list[str]:
        if isinstance(v, dict):
            return [*v, *(s for x in v.values() for s in strings(x))]
        if isinstance(v, list):
            return [s for x in v for s in strings(x)]
        return [v] if isinstance(v, str) else []

    for text in strings(json.loads(out)):
        assert re.fullmatch(r"[A-Za-z0-9_:+-]*", text), text
