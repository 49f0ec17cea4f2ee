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

from runners.spec.jsoncheck import (
    Check,
    boolean,
    choice,
    either,
    integer,
    items,
    number,
    obj,
    same,
    word,
)

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
                **same(
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
        **same(
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
                **same(
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
                **same(
                    """max_long_partial_prefills long_prefill_token_threshold
                    max_num_batched_tokens max_model_len decode_max_num_seqs""",
                    COUNT,
                ),
                **same("enabled enable_chunked_prefill enable_pd_transfer", boolean),
            }
        ),
        "ascend_compilation_config": obj(
            same(
                """enable_npugraph_ex enable_static_kernel fuse_norm_quant fuse_qknorm_rope
                fuse_allreduce_rms fuse_muls_add""",
                boolean,
            )
        ),
        "xlite_graph_config": obj(same("enabled full_mode", boolean)),
        "weight_prefetch_config": obj(
            {
                "enabled": boolean,
                "prefetch_ratio": obj(
                    {
                        "attn": obj(same("qkv o", RATIO)),
                        "moe": obj(same("gate_up", RATIO)),
                        "mlp": obj(same("gate_up down", RATIO)),
                    }
                ),
            }
        ),
        "finegrained_tp_config": obj(
            same(
                """lmhead_tensor_parallel_size oproj_tensor_parallel_size
                embedding_tensor_parallel_size mlp_tensor_parallel_size""",
                COUNT,
            )
        ),
        "eplb_config": obj(
            {
                "dynamic_eplb": boolean,
                **same(
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
                **same("enabled need_timing", boolean),
                **same("min_chunk max_fit_chunk", COUNT),
                "smooth_factor": RATIO,
            }
        ),
        "rejection_sampler_config": obj(
            {
                **same("enable_block_verify enable_entropy_verify", boolean),
                "posterior_threshold": RATIO,
                "posterior_alpha": number(0, 100),
            }
        ),
        "kv_cache_dtype": choice("int8"),
        "pa_shape_list": items(SIZE),
        "SLO_limits_for_dynamic_batch": integer(-1, 1 << 20),
        "weight_nz_mode": integer(0, 2),
        "enable_fused_mc2": integer(0, 2),
        **same(
            """flashcomm2_parallel_size enable_flashcomm2_parallel_size
            expert_tensor_parallel_size lmhead_tensor_parallel_size oproj_tensor_parallel_size
            num_iterations_eplb_update num_wait_worker_iterations init_redundancy_expert""",
            COUNT,
        ),
        **same(
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
        **same(
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
    **same("use_sliding_window tie_word_embeddings is_causal", boolean),
    **same(
        """max_position_embeddings num_hidden_layers num_attention_heads num_key_value_heads
        head_dim hidden_size intermediate_size vocab_size sliding_window max_window_layers
        attention_chunk_size num_experts num_experts_per_tok n_routed_experts
        first_k_dense_replace num_nextn_predict_layers""",
        COUNT,
    ),
}
HF_OVERRIDES = obj({**_MODEL_FIELDS, "text_config": obj(_MODEL_FIELDS)})

# --- `--limit-mm-per-prompt`: a count per modality, or vLLM's {count, width, ...} form.

_MODALITY = either(integer(0, 64), obj(same("count width height num_frames length", COUNT)))
LIMIT_MM = obj(same("image video audio", _MODALITY))

SCHEMAS: dict[str, Check] = {
    "--compilation-config": COMPILATION,
    "--additional-config": ADDITIONAL,
    "--hf-overrides": HF_OVERRIDES,
    "--limit-mm-per-prompt": LIMIT_MM,
}
