"""What the reader's facts do to an answer, with the real model and the shipped runbook."""

import pytest

from kb import Triage, Triager
from kb.notes import (
    HEADS_TP_NOTE,
    IMPORT_NOTE,
    INSPECTION_NOTE,
    MAXLEN_NOTE,
    REQUEST_CRASH_NOTE,
)
from kb.signatures import without_choices

REMOTE_CODE = "remote-code-import-fails-on-transformers-symbols"
DIRECT_RUN = "direct-run-doesnt-pick-your-code-changes"
QUALITY = "api-reachable-but-output-quality-odd"
ARCHITECTURE = "architecture-not-recognized"


def assert_hedged(result: Triage, entry_id: str, note: str) -> None:
    """The entry to read first, never a match, and the note saying what would decide it."""
    assert result.verdict != "match"
    assert result.matches[0].entry_id == entry_id
    assert note in result.notes


def test_a_bare_transformers_import_is_never_a_match_and_says_what_to_look_for(
    triager: Triager,
) -> None:
    bare = triager.triage(
        "ImportError: cannot import name 'DeepseekV2Config' from 'transformers' "
        "(/home/u/envs/vllm/lib/python3.10/site-packages/transformers/__init__.py)"
    )
    assert bare.verdict != "match"
    assert bare.matches[0].entry_id == REMOTE_CODE  # still the one to read first
    assert IMPORT_NOTE in bare.notes
    remote = triager.triage(
        '  File "/root/.cache/huggingface/modules/transformers_modules/m/modeling_m.py", line 9, in <module>\n'
        "    from transformers.utils import LossKwargs\n"
        "ImportError: cannot import name 'LossKwargs' from 'transformers.utils'\n"
    )
    assert remote.verdict == "match" and remote.matches[0].entry_id == REMOTE_CODE
    assert IMPORT_NOTE not in remote.notes


def test_vllm_that_cannot_import_itself_is_the_direct_run_entry(triager: Triager) -> None:
    result = triager.triage(
        "python -c 'import vllm; print(vllm.__version__)'\n"
        "ImportError: cannot import name '__version__' from 'vllm' (unknown location)\n"
    )
    assert result.verdict == "match"
    assert result.matches[0].entry_id == DIRECT_RUN


def test_token_salad_from_a_running_server_is_the_output_quality_entry(triager: Triager) -> None:
    result = triager.triage(
        "INFO 05-01 10:00:00 [core.py:1] init engine (profile, create kv cache, warmup model) took 8.58 seconds\n"
        "Prompt: 'Hello, my name is', Generated text: 'vertisementclosed ה Various草肉 acheter逐渐 "
        "nextState_language recommending出品 Clause กระจาย'\n"
        "Prompt: 'The capital of France is', Generated text: '.dateFormat Kushner çok 风湿 CHAPTER 地产'\n"
    )
    assert result.verdict == "match"
    assert result.matches[0].entry_id == QUALITY


_INSPECTION_FAILED = (
    "ERROR 12-07 05:35:01 [registry.py:433] Error in inspecting model architecture "
    "'Qwen2_5_VLForConditionalGeneration'\n"
    "ERROR 12-07 05:35:01 [registry.py:433] Traceback (most recent call last):\n"
    'ERROR 12-07 05:35:01 [registry.py:433]   File "/x/vllm/model_executor/models/registry.py", '
    "line 507, in _run_in_subprocess\n"
    "ERROR 12-07 05:35:01 [registry.py:433]     returned.check_returncode()\n"
    "ERROR 12-07 05:35:01 [registry.py:433] subprocess.CalledProcessError: Command "
    "'['/usr/bin/python3', '-m', 'vllm.model_executor.models.registry']' returned non-zero "
    "exit status 1.\n"
)


def test_a_list_of_allowed_values_names_no_cause(triager: Triager) -> None:
    """`fp8` inside "Must be one of [...]" is an option offered, not the checkpoint's format."""
    refused = triager.triage(
        "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig\n"
        "  Value error, Unknown quantization method: ascend. Must be one of ['awq', "
        "'auto_awq', 'fp8', 'fbgemm_fp8', 'gptq', 'bitsandbytes', 'gguf', 'compressed-tensors'].\n"
    )
    assert refused.verdict == "no_match"
    fp8 = triager.triage(
        "ValueError: fp8 quantization is currently not supported in npu.\n"
        '  quantization_config: {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic"}\n'
    )
    assert fp8.matches[0].entry_id == "fp8-checkpoint-on-ascend-a2-a3-must-dequant-to-bf16"


def test_a_failure_during_npu_graph_capture_is_the_graph_capture_entry(triager: Triager) -> None:
    result = triager.triage(
        "RuntimeError: Cannot run aclop operators during NPU graph capture. Current working "
        "aclop is Fill. If you need this call to be captured, please try to set "
        "torch.npu.config.allow_internal_format = False\n"
    )
    assert result.verdict == "match"
    assert result.matches[0].entry_id == "acl-graph-capture-fails-507903"


def test_choice_lists_are_blanked_in_place_and_other_quotes_kept() -> None:
    line = "must be one of ['awq', 'fp8', 'gptq'] for 'm'"
    blanked = without_choices(line)
    assert len(blanked) == len(line)  # evidence positions stay where they were
    assert "fp8" not in blanked and "'m'" in blanked
    config = '{"quant_method": "fp8", "fmt": "e4m3"}'
    assert without_choices(config) == config  # key: value pairs are not a list of options
    assert "float16" not in without_choices("(choose from 'auto', 'half', 'float16')")


def test_the_call_machinery_of_a_traceback_is_left_out_of_what_is_searched() -> None:
    from kb.logtext import normalise
    from kb.reading import read
    from kb.triage import _query

    paste = (
        "Traceback (most recent call last):\n"
        '  File "/x/torch/nn/modules/module.py", line 1747, in _call_impl\n'
        "    return forward_call(*args, **kwargs)\n"
        '  File "<frozen importlib._bootstrap>", line 241, in _call_with_frames_removed\n'
        '  File "/x/threading.py", line 1016, in _bootstrap_inner\n'
        '  File "/x/vllm_ascend/quantization/quant_config.py", line 136, in is_layer_skipped\n'
        "    is_shard_skipped = self.quant_description[shard_prefix]\n"
    )
    lexical, dense = _query(read(normalise(paste).lines))
    assert "quant_description" in dense and "is_layer_skipped" in lexical
    assert "forward_call" not in lexical and "_call_impl" not in lexical
    assert "_bootstrap_inner" not in lexical
    assert "_call_with_frames_removed" in lexical  # an import was under way: that says much


def test_a_config_without_architectures_is_the_architecture_entry(triager: Triager) -> None:
    paste = (
        "ERROR 11-02 07:43:54 [core.py:700] EngineCore failed to start.\n"
        "ERROR 11-02 07:43:54 [core.py:700] Traceback (most recent call last):\n"
        'ERROR 11-02 07:43:54 [core.py:700]   File "/x/vllm/model_executor/models/registry.py", '
        "line 1331, in inspect_model_cls\n"
        "ERROR 11-02 07:43:54 [core.py:700] ValueError: No model architectures are specified\n"
    )
    result = triager.triage(paste)
    assert result.verdict == "match" and result.matches[0].entry_id == ARCHITECTURE


def test_what_vllm_warned_about_counts_more_than_an_info_line(triager: Triager) -> None:
    paste = (
        "INFO 03-03 07:43:54 __init__.py:207] Automatically detected platform npu.\n"
        "WARNING 03-03 07:43:54 registry.py:400] No model architectures are specified\n"
        "ERROR 03-03 07:43:54 engine.py:400] 'NoneType' object is not iterable\n"
        "ERROR 03-03 07:43:54 engine.py:400] Traceback (most recent call last):\n"
        'ERROR 03-03 07:43:54 engine.py:400]   File "/x/vllm/engine/arg_utils.py", line 1100, '
        "in create_engine_config\n"
    )
    result = triager.triage(paste)
    assert result.matches[0].entry_id == ARCHITECTURE
    as_info = triager.triage(paste.replace("WARNING 03-03", "INFO 03-03"))
    assert as_info.matches[0].score < result.matches[0].score


def test_where_python_is_installed_is_left_out_of_what_is_searched() -> None:
    from kb.logtext import normalise
    from kb.reading import read
    from kb.triage import _query

    paste = (
        "Traceback (most recent call last):\n"
        '  File "/vllm-workspace/vllm-ascend/vllm_ascend/compilation/acl_graph.py", line 341, '
        "in update_attn_params\n"
        "    _update_attn_fia_params(update_stream, forward_context, runtime_shape)\n"
        '  File "/usr/local/python3.11.14/lib/python3.11/site-packages/torch_npu/op.py", '
        "line 829, in __call__\n"
    )
    lexical, _ = _query(read(normalise(paste).lines))
    # The install prefix (workspace, site-packages, python3.11) is gone; what ran stays.
    assert "workspace" not in lexical and "site-packages" not in lexical
    assert "python3.11" not in lexical
    assert "vllm_ascend.compilation.acl_graph.update_attn_params" in lexical
    assert "_update_attn_fia_params" in lexical


def test_a_request_handler_that_crashed_is_a_crash_on_a_request(triager: Triager) -> None:
    from kb.logtext import normalise
    from kb.reading import read

    cut = (
        "Any chat completion request crashes:\n"
        "ERROR:    Exception in ASGI application\n"
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.10/site-packages/uvicorn/protocols/http/httptools_impl.py", '
        "line 401, in run_asgi\n"
        "    result = await app(  # type: ignore[func-returns-value]\n"
    )
    assert "@crash-on-request" in read(normalise(cut).lines).facts
    ranked = [m.entry_id for m in triager.triage(cut).matches]
    assert "false-ready-startup-succeeds-but-first-request-crashes" in ranked
    refused = 'INFO:     10.0.0.1:5 - "POST /v1/chat/completions HTTP/1.1" 400 Bad Request\n'
    assert "@crash-on-request" not in read(normalise(refused).lines).facts


def test_a_worker_death_mid_capture_is_the_capture_entry_not_a_stuck_startup(
    triager: Triager,
) -> None:
    paste = (
        "(EngineCore_DP0 pid=1) INFO 11-28 10:00:00 [model_runner_v1.py:1] Starting to capture "
        "ACL graphs for cases: [1, 2, 4]\n"
        "Capturing CUDA graphs (mixed prefill-decode, PIECEWISE):  54%|#####4 | 19/35\n"
        "(Worker_TP1 pid=7) ERROR 11-28 10:01:00 [multiproc_executor.py:1] WorkerProc hit an "
        "exception.\n"
        "(Worker_TP1 pid=7) ERROR 11-28 10:01:00 [multiproc_executor.py:1] Traceback (most "
        "recent call last):\n"
    )
    first = triager.triage(paste).matches[0].entry_id
    assert first == "acl-graph-capture-fails-507903"
    still = paste.split("(Worker_TP1")[0]
    assert triager.triage(still).matches[0].entry_id == "startup-appears-stuck-in-graph-mode"


FALSE_READY = "false-ready-startup-succeeds-but-first-request-crashes"
_REQUEST_DIED = (
    "ERROR 12-07 10:00:00 [serving_chat.py:1] Error in chat completion stream generator.\n"
    '  File "/x/vllm/v1/engine/async_llm.py", line 572, in generate\n'
    "    out = q.get_nowait() or await q.get()\n"
    "vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue. See stack "
    "trace (above) for the root cause.\n"
    'INFO:     127.0.0.1:50000 - "POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error\n'
)


def test_a_request_crash_without_its_startup_names_false_ready_as_likely_at_most(
    triager: Triager,
) -> None:
    """Which request it was decides false-ready (the first) from a late death (one of many)."""
    assert_hedged(triager.triage(_REQUEST_DIED), FALSE_READY, REQUEST_CRASH_NOTE)
    startup = (
        "INFO 12-07 09:59:50 [api_server.py:1] Starting vLLM API server 0 on http://0.0.0.0:8000\n"
        "INFO:     Application startup complete.\n"
    )
    first = triager.triage(startup + _REQUEST_DIED)
    assert first.verdict == "match" and first.matches[0].entry_id == FALSE_READY
    assert REQUEST_CRASH_NOTE not in first.notes
    # What a runner watched (ready, then the first request, then death) decides it too.
    watched = triager.triage(_REQUEST_DIED, observed=frozenset({"@first-request-crash"}))
    assert watched.verdict == "match" and watched.matches[0].entry_id == FALSE_READY


def test_a_request_crash_with_its_own_error_is_answered_by_that_error(triager: Triager) -> None:
    """The rule holds back only the entry the crash alone points to, not one a line names."""
    result = triager.triage(
        '  File "/x/vllm_ascend/attention/mla_v1.py", line 900, in forward\n'
        "    torch_npu.atb.npu_ring_mla(q_nope=q_nope, q_rope=q_pe)\n"
        "RuntimeError: npu_ring_mla: aclnn call failed\n" + _REQUEST_DIED
    )
    assert result.verdict == "match"
    assert result.matches[0].entry_id == "mla-attention-runtime-failures-after-ready"


def test_a_traceback_cut_before_its_exception_is_never_a_match_on_words_alone(
    triager: Triager,
) -> None:
    frames = (
        "Traceback (most recent call last):\n"
        '  File "/usr/local/bin/vllm", line 7, in <module>\n'
        "    sys.exit(main())\n"
        '  File "/vllm-workspace/vllm/vllm/entrypoints/cli/main.py", line 66, in main\n'
        "    cmd.subparser_init(subparsers).set_defaults(dispatch_function=cmd.cmd)\n"
        '  File "/vllm-workspace/vllm-ascend/vllm_ascend/utils.py", line 275, in adapt_patch\n'
        "    from vllm_ascend.patch import platform  # noqa: F401\n"
        '  File "/vllm-workspace/vllm-ascend/vllm_ascend/patch/platform/__init__.py", line 21, in <module>\n'
    )
    cut = triager.triage(frames)
    assert cut.verdict != "match"
    assert cut.matches  # the closest entries are still listed
    ended = triager.triage(
        frames + "    import vllm_ascend.patch.platform.patch_common\n"
        "ImportError: cannot import name '__version__' from 'vllm' (unknown location)\n"
    )
    assert ended.verdict == "match"  # the exception line decides it


_MLA_FORWARD = (
    "Traceback (most recent call last):\n"
    '  File "/vllm-workspace/vllm-ascend/vllm_ascend/worker/model_runner_v1.py", line 2210, '
    "in execute_model\n"
    "    hidden_states = self._model_forward(input_ids, positions)\n"
    '  File "/vllm-workspace/vllm/vllm/model_executor/models/{module}.py", line 195, in forward\n'
    "    hidden_states = self.self_attn(**attn_kwargs)\n"
    '  File "/usr/local/lib/python3.11/site-packages/torch/nn/modules/module.py", line 1775, '
    "in _wrapped_call_impl\n"
    "    return self._call_impl(*args, **kwargs)\n"
)
MLA = "mla-attention-runtime-failures-after-ready"


def test_an_mla_model_that_crashed_running_a_request_names_the_mla_entry_as_likely(
    triager: Triager,
) -> None:
    """Cut before its error, a crash in an MLA model's forward pass points at MLA attention;
    the same frames of another model, or of startup, do not."""
    from kb.notes import MLA_CRASH_NOTE

    assert_hedged(triager.triage(_MLA_FORWARD.format(module="glm4_moe_lite")), MLA, MLA_CRASH_NOTE)
    dense = triager.triage(_MLA_FORWARD.format(module="qwen3_moe"))
    assert MLA not in [m.entry_id for m in dense.matches[:1]]
    assert MLA_CRASH_NOTE not in dense.notes
    loading = _MLA_FORWARD.format(module="deepseek_v2").replace("in execute_model", "in load_model")
    assert MLA_CRASH_NOTE not in triager.triage(loading).notes


QK_NORM = "qk-norm-mismatch-kv-heads-tp-head-divisibility"
MAX_LEN = "config-max-length-works-on-paper-but-not-in-runtime"
_TP_REFUSED = (
    '  File "/usr/local/lib/python3.12/dist-packages/vllm/config/vllm.py", line 501, in __post_init__\n'
    "    self.model_config.verify_with_parallel_config(self.parallel_config)\n"
    '  File "/usr/local/lib/python3.12/dist-packages/vllm/config/model.py", line 1013, in '
    "verify_with_parallel_config\n"
    "    raise ValueError(\n"
    "ValueError: Total number of attention heads (64) must be divisible by tensor parallel size (6).\n"
)


def test_a_traceback_through_the_serving_loop_is_a_crash_on_a_request(triager: Triager) -> None:
    """The engine's step loop runs only for requests; startup's profile run is not one."""
    from kb.logtext import normalise
    from kb.reading import read

    def frame(path: str, func: str) -> str:
        return f'(EngineCore_DP0 pid=9) ERROR 12-07 10:00:01 [core.py:1]   File "{path}", line 1, in {func}\n'

    died = "(EngineCore_DP0 pid=9) ERROR 12-07 10:00:01 [core.py:1] EngineCore encountered a fatal error.\n"
    cause = "(EngineCore_DP0 pid=9) ERROR 12-07 10:00:01 [core.py:1] RuntimeError: The Inner error is reported as above.\n"
    serving = (
        died
        + frame("/vllm-workspace/vllm/vllm/v1/engine/core.py", "_process_engine_step")
        + frame("/vllm-workspace/vllm/vllm/v1/engine/core.py", "step")
        + frame(
            "/vllm-workspace/vllm-ascend/vllm_ascend/worker/model_runner_v1.py", "execute_model"
        )
        + cause
    )
    assert "@crash-on-request" in read(normalise(serving).lines).facts
    assert_hedged(triager.triage(serving), FALSE_READY, REQUEST_CRASH_NOTE)
    profiling = serving.replace("_process_engine_step", "profile_run")
    assert "@crash-on-request" not in read(normalise(profiling).lines).facts
    replay = died + frame(
        "/vllm-workspace/vllm-ascend/vllm_ascend/compilation/acl_graph.py", "update_attn_params"
    )  # a graph replay updating attention parameters: a request being run, its error cut
    assert "@crash-on-request" in read(normalise(replay).lines).facts
    dataclass = replay + frame("<string>", "__init__")  # a generated __init__ runs anywhere
    assert "@crash-on-request" in read(normalise(dataclass).lines).facts
    elsewhere = died + frame("/opt/trainer/loop.py", "step") + cause  # not the engine's step
    assert "@crash-on-request" not in read(normalise(elsewhere).lines).facts


@pytest.mark.parametrize(
    ("paste", "not_entry"),
    [
        pytest.param(
            "ERROR 12-07 05:35:01 [registry.py:1] Error in inspecting model architecture "
            "'Qwen2VLForConditionalGeneration'\n"
            '  File "/x/site-packages/transformers/models/qwen2_vl/image_processing_qwen2_vl.py", '
            "line 26, in <module>\n"
            "    from torchvision.transforms.v2 import functional as tvF\n"
            "ModuleNotFoundError: No module named 'torchvision'\n",
            ARCHITECTURE,
            id="a package the environment lacks is no unknown architecture",
        ),
        pytest.param(
            # The model's code is not where Python looks (a dotted directory name, a cache
            # without the file): 'do not upgrade transformers' would not help.
            '  File "/root/.cache/huggingface/modules/transformers_modules/ERNIE-4.5-VL-28B-A3B-PT/'
            'processing_ernie_45t_vl.py", line 46, in <module>\n'
            "    from .tokenization_ernie_45t_vl import Ernie4_5_VLTokenizer\n"
            "ModuleNotFoundError: No module named 'transformers_modules.ERNIE-4'\n",
            REMOTE_CODE,
            id="a model module not found is no missing transformers symbol",
        ),
    ],
)
def test_a_module_missing_from_the_environment_is_not_the_entry_its_words_suggest(
    triager: Triager, paste: str, not_entry: str
) -> None:
    result = triager.triage(paste)
    assert not (result.verdict == "match" and result.matches[0].entry_id == not_entry)


_MAXLEN_REFUSED = (
    "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig\n"
    "  Value error, User-specified max_model_len (100000) is greater than the derived "
    "max_model_len (max_position_embeddings=2048.0 or model_max_length=None in model's "
    "config.json). To allow overriding this maximum, set the env var "
    "VLLM_ALLOW_LONG_MAX_MODEL_LEN=1.\n"
)


@pytest.mark.parametrize(
    ("undecided", "entry_id", "note", "decided"),
    [
        pytest.param(
            # The subprocess's own error says whether the class is unknown or its import broke.
            _INSPECTION_FAILED,
            ARCHITECTURE,
            INSPECTION_NOTE,
            _INSPECTION_FAILED
            + "ERROR 12-07 05:35:01 [registry.py:433] RuntimeError: Error raised in subprocess:\n"
            "ERROR 12-07 05:35:01 [registry.py:433] AttributeError: module "
            "'vllm.model_executor.models.kimi_k25' has no attribute "
            "'KimiK25ForConditionalGeneration'\n",
            id="inspection failed, why not pasted",
        ),
        pytest.param(
            # The user's TP choice, refused before loading, is not the QK-norm shape mismatch.
            _TP_REFUSED,
            QK_NORM,
            HEADS_TP_NOTE,
            '  File "/vllm-workspace/vllm/vllm/model_executor/models/qwen3_moe.py", line 312, '
            "in forward\n"
            "    k = self.k_norm(k)\n"
            "RuntimeError: The size of tensor a (128) must match the size of tensor b (64) at "
            "non-singleton dimension 0\n",
            id="heads not divisible by TP",
        ),
        pytest.param(
            # The user's --max-model-len above the config is not a config maximum that fails.
            _MAXLEN_REFUSED,
            MAX_LEN,
            MAXLEN_NOTE,
            "ValueError: To serve at least one request with the models's max seq len (262144), "
            "(24.00 GiB KV cache is needed, which is larger than the available KV cache memory "
            "(19.62 GiB). Based on the available memory, the estimated maximum model length is "
            "214272. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when "
            "initializing the engine.\n",
            id="max_model_len above the config",
        ),
    ],
)
def test_a_paste_that_cannot_decide_names_the_entry_and_what_would_decide_it(
    triager: Triager, undecided: str, entry_id: str, note: str, decided: str
) -> None:
    assert_hedged(triager.triage(undecided), entry_id, note)
    answer = triager.triage(decided)
    assert answer.verdict == "match" and answer.matches[0].entry_id == entry_id
    assert note not in answer.notes


def test_a_kernels_block_size_constraint_is_no_evidence_of_head_divisibility(
    triager: Triager,
) -> None:
    """`divisible by` in a kernel's constraint is not about heads and TP."""
    answer = triager.triage(
        "RuntimeError: Worker failed with error 'size_k must divisible by BLOCK_SIZE_K', please "
        "check the stack trace above for the root cause\n"
    )
    assert answer.channels[QK_NORM]["signature"] == 0.0
    heads = triager.triage(_TP_REFUSED)
    assert heads.channels[QK_NORM]["signature"] > 0.0
