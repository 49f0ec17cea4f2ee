"""The JSON values a job may give `vllm serve`: one typed key allow-list per flag.

vLLM and vllm-ascend read some of these keys as code or files: `CompilationConfig.backend`
and `inductor_passes` are dotted names to import, `inductor_compile_config` sets Inductor's
compiler (`cpp.cxx`), `cache_dir` / `debug_dump_path` / `expert_map_path` are paths. So a
value passes only if every key is listed for its flag and every value has the listed type;
strings are choices or narrow patterns, never a dotted name, a path or `..`. The text is
measured (length, nesting) before `json.loads` sees it, and what goes into the argv is the
checked object re-serialised: no escape, whitespace or duplicate key can mean one thing
here and another to vLLM.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

MAX_JSON = 2000  # characters
MAX_DEPTH = 5  # the deepest documented key: additional_config.weight_prefetch_config...
MAX_ITEMS = 512  # in any one list

Check = Callable[[object, str], None]  # raises ValueError saying which key and why


class _Refused(ValueError):
    """Why a value is refused; `where` names the key, `what` what it must be."""

    def __init__(self, message: str, where: str = "", what: str | None = None) -> None:
        super().__init__(message)
        self.where, self.what = where, what


def _say(where: str, what: str, value: object) -> _Refused:
    shown = type(value).__name__ if isinstance(value, dict | list) else json.dumps(value)[:40]
    return _Refused(f"`{where or 'the value'}` must be {what}, not {shown}", where, what)


def boolean(value: object, where: str) -> None:
    if not isinstance(value, bool):
        raise _say(where, "true or false", value)


def integer(lo: int = 0, hi: int = 10**9) -> Check:
    def check(value: object, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _say(where, f"a whole number from {lo} to {hi}", value)

    return check


def number(lo: float = 0.0, hi: float = 1e9) -> Check:
    def check(value: object, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise _say(where, f"a number from {lo:g} to {hi:g}", value)

    return check


def choice(*names: str, fold: bool = False) -> Check:
    """One of `names`; `fold`: in any case (vLLM upper-cases enum names itself)."""

    def check(value: object, where: str) -> None:
        if not isinstance(value, str) or (value.upper() if fold else value) not in names:
            raise _say(where, "one of " + ", ".join(repr(n) for n in names), value)

    return check


def word(pattern: str, what: str) -> Check:
    compiled = re.compile(pattern)

    def check(value: object, where: str) -> None:
        if not isinstance(value, str) or compiled.fullmatch(value) is None:
            raise _say(where, what, value)

    return check


def either(*checks: Check) -> Check:
    """The first of `checks` that passes; refused, the refusal from deepest inside."""

    def check(value: object, where: str) -> None:
        errors: list[_Refused] = []
        for one in checks:
            try:
                one(value, where)
                return
            except _Refused as exc:
                errors.append(exc)
        inner = [e for e in errors if e.where != where or e.what is None]
        if inner:
            raise inner[0]
        raise _say(where, " or ".join(str(e.what) for e in errors), value)

    return check


def items(of: Check, max_items: int = MAX_ITEMS) -> Check:
    def check(value: object, where: str) -> None:
        if not isinstance(value, list) or len(value) > max_items:
            raise _say(where, f"a list of at most {max_items} items", value)
        for i, item in enumerate(value):
            of(item, f"{where}[{i}]")

    return check


# Keys that are never allowed, and why (named in the refusal; any other unknown key is
# refused as unknown).
DANGEROUS = {
    "inductor_passes": "names functions vLLM imports",
    "inductor_compile_config": "sets Inductor's compiler and its passes",
    "cache_dir": "a path",
    "local_cache_dir": "a path",
    "debug_dump_path": "a path",
    "expert_map_path": "a path",
    "expert_map_record_path": "a path",
    "dump_config_path": "a path",
    "dump_config": "writes a debugger config to disk",
    "auto_map": "names Python modules to import",
    "tokenizer_class": "names a class to import",
    "processor_class": "names a class to import",
    "_name_or_path": "a path",
    "scheduler_cls": "a dotted name vLLM imports",
    "kv_connector_module_path": "a module to import",
}


def obj(fields: dict[str, Check]) -> Check:
    """An object whose keys are all in `fields`; any value may be null (vLLM's default)."""

    def check(value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise _say(where, "a JSON object", value)
        for key, item in value.items():
            at = f"{where}.{key}" if where else key
            if key not in fields:
                why = DANGEROUS.get(key)
                raise _Refused(
                    f"`{at[:80]}` is not allowed here ({why})"
                    if why
                    else f"`{at[:80]}` is not an allowed key; allowed: "
                    + ", ".join(sorted(fields)),
                    at,
                )
            if item is not None:
                fields[key](item, at)

    return check


def _all(names: str, check: Check) -> dict[str, Check]:
    """`check` for each of the whitespace-separated `names`."""
    return dict.fromkeys(names.split(), check)


def _shape(text: str) -> None:
    """Length and nesting, read without parsing: json.loads and any checker recurse."""
    if len(text) > MAX_JSON:
        raise _Refused(f"longer than {MAX_JSON} characters")
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
        elif char in "]}":
            depth -= 1


def _no_twice(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"`{key[:80]}` is given twice")
        out[key] = value
    return out


def _no_constant(name: str) -> object:
    raise _Refused(f"`{name}` is not allowed")


def canonical(text: str, schema: Check) -> str:
    """`text` checked against `schema` and re-serialised compactly, or ValueError saying
    why."""
    _shape(text)
    try:
        parsed = json.loads(text, object_pairs_hook=_no_twice, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise _Refused(f"not JSON ({exc.msg} at character {exc.pos})") from exc
    schema(parsed, "")
    return json.dumps(parsed, separators=(",", ":"))


# --- vLLM's CompilationConfig (`-O` / `--compilation-config`), v0.9 to v0.20 field names.

SIZE = integer(1, 1 << 20)
COUNT = integer(0, 1 << 20)
RATIO = number(0, 1)
COMPILATION = obj(
    {
        "level": integer(0, 3),
        "mode": either(
            integer(0, 3),
            choice("NONE", "STOCK_TORCH_COMPILE", "DYNAMO_TRACE_ONCE", "VLLM_COMPILE", fold=True),
        ),
        "backend": choice("", "eager", "inductor"),
        "custom_ops": items(word(r"none|all|[+-][a-z0-9_]{1,64}", "all, none, +op or -op")),
        "splitting_ops": items(word(r"[A-Za-z0-9_]{1,40}::[A-Za-z0-9_]{1,80}", "namespace::op")),
        "compile_sizes": items(either(SIZE, choice("cudagraph_capture_sizes"))),
        "compile_ranges_split_points": items(SIZE),
        "cudagraph_mode": choice(
            "NONE", "PIECEWISE", "FULL", "FULL_DECODE_ONLY", "FULL_AND_PIECEWISE", fold=True
        ),
        "cudagraph_num_of_warmups": integer(0, 100),
        "cudagraph_capture_sizes": items(SIZE),
        "max_cudagraph_capture_size": SIZE,
        "max_capture_size": SIZE,
        "compile_cache_save_format": choice("binary", "unpacked"),
        "pass_config": obj(
            {
                **_all(
                    """fuse_norm_quant fuse_act_quant fuse_attn_quant eliminate_noops enable_sp
                    fuse_gemm_comms fuse_allreduce_rms enable_qk_norm_rope_fusion enable_fusion
                    enable_attn_fusion enable_noop enable_sequence_parallelism enable_async_tp
                    enable_fi_allreduce_fusion""",
                    boolean,
                ),
                "fi_allreduce_fusion_max_size_mb": number(0, 4096),
            }
        ),
        "dynamic_shapes_config": obj(
            {
                "type": choice("backed", "unbacked", "backed_size_oblivious"),
                "evaluate_guards": boolean,
            }
        ),
        **_all(
            """compile_mm_encoder use_inductor use_cudagraph full_cuda_graph
            cudagraph_copy_inputs cudagraph_specialize_lora use_inductor_graph_partition""",
            boolean,
        ),
    }
)

# --- vllm-ascend's additional_config (docs: user_guide/configuration/additional_config.md).

ADDITIONAL = obj(
    {
        "torchair_graph_config": obj(
            {
                "mode": choice("max-autotune", "reduce-overhead"),
                "graph_batch_sizes": items(SIZE),
                **_all(
                    """enabled enable_multistream_mla enable_multistream_moe
                    enable_view_optimize use_cached_graph graph_batch_sizes_init enable_kv_nz
                    enable_super_kernel enable_frozen_parameter enable_multistream_shared_expert""",
                    boolean,
                ),
            }
        ),
        "ascend_scheduler_config": obj(
            {
                "policy": choice("fcfs", "priority"),
                **_all(
                    """max_long_partial_prefills long_prefill_token_threshold
                    max_num_batched_tokens max_model_len decode_max_num_seqs""",
                    COUNT,
                ),
                **_all("enabled enable_chunked_prefill enable_pd_transfer", boolean),
            }
        ),
        "ascend_compilation_config": obj(
            _all(
                """enable_npugraph_ex enable_static_kernel fuse_norm_quant fuse_qknorm_rope
                fuse_allreduce_rms fuse_muls_add""",
                boolean,
            )
        ),
        "xlite_graph_config": obj(_all("enabled full_mode", boolean)),
        "weight_prefetch_config": obj(
            {
                "enabled": boolean,
                "prefetch_ratio": obj(
                    {
                        "attn": obj(_all("qkv o", RATIO)),
                        "moe": obj(_all("gate_up", RATIO)),
                        "mlp": obj(_all("gate_up down", RATIO)),
                    }
                ),
            }
        ),
        "finegrained_tp_config": obj(
            _all(
                """lmhead_tensor_parallel_size oproj_tensor_parallel_size
                embedding_tensor_parallel_size mlp_tensor_parallel_size""",
                COUNT,
            )
        ),
        "eplb_config": obj(
            {
                "dynamic_eplb": boolean,
                **_all(
                    """expert_heat_collection_interval algorithm_execution_interval
                    num_redundant_experts""",
                    COUNT,
                ),
                "eplb_policy_type": integer(0, 3),
                "eplb_heat_collection_stage": choice("prefill", "decode", "all"),
            }
        ),
        "profiling_chunk_config": obj(
            {
                **_all("enabled need_timing", boolean),
                **_all("min_chunk max_fit_chunk", COUNT),
                "smooth_factor": RATIO,
            }
        ),
        "rejection_sampler_config": obj(
            {
                **_all("enable_block_verify enable_entropy_verify", boolean),
                "posterior_threshold": RATIO,
                "posterior_alpha": number(0, 100),
            }
        ),
        "kv_cache_dtype": choice("int8"),
        "pa_shape_list": items(SIZE),
        "SLO_limits_for_dynamic_batch": integer(-1, 1 << 20),
        "weight_nz_mode": integer(0, 2),
        "enable_fused_mc2": integer(0, 2),
        **_all(
            """flashcomm2_parallel_size enable_flashcomm2_parallel_size
            expert_tensor_parallel_size lmhead_tensor_parallel_size oproj_tensor_parallel_size
            num_iterations_eplb_update num_wait_worker_iterations init_redundancy_expert""",
            COUNT,
        ),
        **_all(
            """enable_async_exponential enable_shared_expert_dp multistream_overlap_shared_expert
            multistream_overlap_gate recompute_scheduler_enable enable_cpu_binding
            enable_sleep_mode_extra_cleanup enable_npugraph_ex enable_kv_nz enable_sparse_c8
            c8_enable_reshape_optim enable_mc2_hierarchy_comm enable_balance_scheduling
            enable_flashcomm1 enable_matmul_allreduce enable_mlapo enable_context_parallel
            enable_transpose_kv_cache_by_block enable_dsa_cp multistream_dsv4_dsa_overlap
            chunked_prefill_for_mla enable_prefill_optimizations enable_weight_nz_layout
            dynamic_eplb gate_eplb""",
            boolean,
        ),
    }
)

# --- `--hf-overrides`: fields of a Hugging Face config a bring-up changes; never a class,
# a module or a path (`auto_map`, `tokenizer_class`, `_name_or_path`).

_ROPE_TYPES = ("default", "linear", "dynamic", "yarn", "longrope", "llama3", "mrope", "ntk")
_ROPE = obj(
    {
        "rope_type": choice(*_ROPE_TYPES),
        "type": choice(*_ROPE_TYPES),
        "original_max_position_embeddings": COUNT,
        "mrope_section": items(COUNT, 8),
        "mrope_interleaved": boolean,
        **_all(
            """factor low_freq_factor high_freq_factor beta_fast beta_slow mscale
            mscale_all_dim attention_factor extrapolation_factor rope_theta
            partial_rotary_factor""",
            number(0, 1e12),
        ),
    }
)
_DTYPE = choice("auto", "float16", "bfloat16", "float32")
_MODEL_FIELDS: dict[str, Check] = {
    "architectures": items(word(r"[A-Za-z][A-Za-z0-9_]{0,80}", "a class name of vLLM's"), 4),
    "model_type": word(r"[a-z][a-z0-9_]{0,60}", "a model type"),
    "torch_dtype": _DTYPE,
    "dtype": _DTYPE,
    "rope_scaling": _ROPE,
    "rope_parameters": _ROPE,
    "rope_theta": number(0, 1e12),
    "partial_rotary_factor": RATIO,
    "rms_norm_eps": RATIO,
    "layer_types": items(choice("full_attention", "sliding_attention", "linear_attention"), 256),
    **_all("use_sliding_window tie_word_embeddings is_causal", boolean),
    **_all(
        """max_position_embeddings num_hidden_layers num_attention_heads num_key_value_heads
        head_dim hidden_size intermediate_size vocab_size sliding_window max_window_layers
        attention_chunk_size num_experts num_experts_per_tok n_routed_experts
        first_k_dense_replace num_nextn_predict_layers""",
        COUNT,
    ),
}
HF_OVERRIDES = obj({**_MODEL_FIELDS, "text_config": obj(_MODEL_FIELDS)})

# --- `--limit-mm-per-prompt`: a count per modality, or vLLM's {count, width, ...} form.

_MODALITY = either(integer(0, 64), obj(_all("count width height num_frames length", COUNT)))
LIMIT_MM = obj(_all("image video audio", _MODALITY))

SCHEMAS: dict[str, Check] = {
    "--compilation-config": COMPILATION,
    "--additional-config": ADDITIONAL,
    "--hf-overrides": HF_OVERRIDES,
    "--limit-mm-per-prompt": LIMIT_MM,
}
