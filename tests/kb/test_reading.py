from kb.logtext import normalise
from kb.reading import read
from kb.roles import Role


def reading_of(raw: str):  # type: ignore[no-untyped-def]
    return read(normalise(raw).lines)


def test_python_chain_root_cause_is_the_first_exception_not_the_wrapper() -> None:
    r = reading_of(
        "(EngineCore_DP0 pid=3) ERROR 11-28 10:00:00 [core.py:700] EngineCore failed to start.\n"
        "(EngineCore_DP0 pid=3) ERROR 11-28 10:00:00 [core.py:700] Traceback (most recent call last):\n"
        '(EngineCore_DP0 pid=3) ERROR 11-28 10:00:00 [core.py:700]   File "/vllm/v1/core.py", line 9, in run\n'
        "(EngineCore_DP0 pid=3) ERROR 11-28 10:00:00 [core.py:700] ValueError: To serve at least one "
        "request with the model's max seq len (131072), 52.66 GiB KV cache is needed\n"
        "(APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above. "
        "Failed core proc(s): {'EngineCore_DP0': 1}\n"
    )
    assert r.signature and r.signature.startswith("ValueError: To serve at least one request")
    assert not r.partial


def test_torch_npu_anatomy_takes_the_error_code_line_not_the_cann_lines_after_it() -> None:
    r = reading_of(
        "[rank0]: RuntimeError: capture_end:build/CMakeFiles/torch_npu.dir/compiler_depend.ts:152 "
        "NPU function error: c10_npu::acl::AclmdlRICaptureEnd(capture_stream_, &model_ri), "
        "error code is 507903\n"
        "[rank0]: [ERROR] 2026-11-28-10:12:01 (PID:1234, Device:0, RankID:-1) ERR00100 PTA call acl api failed\n"
        "[rank0]: EE9999: Inner Error!\n"
        "[rank0]: EE9999: rtStreamEndCapture execution failed, reason=an error has invalidated "
        "the stream capture sequence\n"
        "[rank0]:         TraceBack (most recent call last):\n"
    )
    assert r.signature is not None and r.signature.endswith("error code is 507903")


def test_worker_failed_with_error_is_unwrapped_to_the_quoted_cause() -> None:
    r = reading_of(
        "ERROR 11-28 10:00:00 [core.py:1] EngineCore encountered a fatal error.\n"
        "RuntimeError: Worker failed with error 'Unsupported CPU attention configuration: "
        "head_dim=16 isa=2 kv_cache_idx=0', please check the stack trace above for the root cause\n"
        "vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue. "
        "See stack trace (above) for the root cause.\n"
    )
    assert (
        r.signature == "Unsupported CPU attention configuration: head_dim=16 isa=2 kv_cache_idx=0"
    )


def test_npu_model_runner_wrapper_is_unwrapped() -> None:
    r = reading_of(
        "RuntimeError: NPUModelRunner failed, error is AtbRingMLAGetWorkspaceSize failed\n"
    )
    assert r.signature == "AtbRingMLAGetWorkspaceSize failed"
    twice = reading_of(
        "RuntimeError: NPUModelRunner init failed, error is NPUModelRunner failed, error is "
        "operation not permitted when a stream is capturing\n"
    )
    assert twice.signature == "operation not permitted when a stream is capturing"
    init = reading_of("RuntimeError: NPUModelRunner init failed, error is Alloc sq cq fail\n")
    assert init.signature == "Alloc sq cq fail"


def test_warnings_do_not_win_over_errors_and_wrappers_are_never_the_root_cause() -> None:
    r = reading_of(
        "WARNING 11-28 10:00:00 [importing.py:44] ModuleNotFoundError: No module named 'triton'\n"
        "ERROR 11-28 10:00:01 [x.py:1] OSError: [Errno 98] Address already in use\n"
    )
    assert r.signature == "OSError: [Errno 98] Address already in use"
    only = reading_of(
        "vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue.\n"
    )
    assert only.signature is None and only.only_wrappers


STARTED = (
    "(APIServer pid=1) INFO 11-28 10:00:00 [launcher.py:34] Available routes are:\n"
    "(APIServer pid=1) INFO:     Application startup complete.\n"
)


def test_engine_death_right_after_startup_is_a_first_request_crash() -> None:
    r = reading_of(
        STARTED + '(APIServer pid=1) INFO:     127.0.0.1:1 - "GET /v1/models HTTP/1.1" 200 OK\n'
        "(EngineCore_DP0 pid=2) ERROR 11-28 10:00:20 [core.py:1] EngineCore encountered a fatal error.\n"
        '(APIServer pid=1) INFO:     127.0.0.1:1 - "POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error\n'
    )
    assert "@first-request-crash" in r.facts


def test_engine_death_after_hours_of_serving_is_not_a_first_request_crash() -> None:
    serving = "".join(
        f'(APIServer pid=1) INFO:     10.0.0.{i}:1 - "POST /v1/chat/completions HTTP/1.1" 200 OK\n'
        for i in range(20)
    )
    r = reading_of(
        "(APIServer pid=1) INFO 11-28 10:00:00 [launcher.py:34] Available routes are:\n"
        + serving
        + "(EngineCore_DP0 pid=2) ERROR 11-28 16:40:00 [core.py:1] EngineCore encountered a fatal error.\n"
    )
    assert "@first-request-crash" not in r.facts and "@died-after-serving" in r.facts
    # Few requests but six hours apart: still not the first request.
    late = reading_of(
        "(APIServer pid=1) INFO 11-28 10:00:00 [launcher.py:34] Available routes are:\n"
        "(EngineCore_DP0 pid=2) ERROR 11-28 16:40:00 [core.py:1] EngineCore encountered a fatal error.\n"
    )
    assert late.facts == {"@died-after-serving"}


def test_log_that_stops_during_graph_capture_without_errors_is_capture_in_progress() -> None:
    capturing = (
        "INFO 11-28 10:00:00 [model_runner_v1.py:1] Starting to capture ACL graphs for cases: [1, 2]\n"
        "Capturing CUDA graphs (mixed prefill-decode, PIECEWISE):  45%|####5 | 30/67\n"
    )
    assert "@capture-in-progress" in reading_of(capturing).facts
    finished = (
        capturing
        + "INFO 11-28 10:02:00 [x.py:1] Graph capturing finished in 83 secs, took 0.5 GiB\n"
    )
    assert "@capture-in-progress" not in reading_of(finished).facts
    crashed = capturing + "RuntimeError: NPU function error: error code is 507903\n"
    assert "@capture-in-progress" not in reading_of(crashed).facts


def test_a_worker_that_dies_mid_capture_with_its_error_cut_is_a_failed_capture() -> None:
    capturing = (
        "INFO 11-28 10:00:00 [model_runner_v1.py:1] Starting to capture ACL graphs for cases: [1, 2]\n"
        "Capturing CUDA graphs (mixed prefill-decode, PIECEWISE):  28%|##8 | 19/67\n"
    )
    died = capturing + (
        "(Worker_TP1 pid=7) ERROR 11-28 10:01:00 [multiproc_executor.py:1] WorkerProc hit an exception.\n"
        "(Worker_TP1 pid=7) ERROR 11-28 10:01:00 [multiproc_executor.py:1] Traceback (most recent call last):\n"
        '(Worker_TP1 pid=7) ERROR 11-28 10:01:00 [multiproc_executor.py:1]   File "/w/vllm_ascend/worker/'
        'model_runner_v1.py", line 4993, in capture_model\n'
    )
    facts = reading_of(died).facts
    assert "@capture-died" in facts and "@capture-in-progress" not in facts
    # Only a death after the capture line counts: one before it was another stage's.
    before = died.replace(capturing, "") + capturing
    assert "@capture-died" not in reading_of(before).facts


def test_cann_traceback_block_ends_a_complete_report_and_is_not_partial() -> None:
    r = reading_of(
        "[rank0]: RuntimeError: createHCCLComm: HCCL function error: HcclGetRootInfo(&hcclID), error code is 11\n"
        "[rank0]: EJ0003: [PID: 159] Failed to bind the IP port. Reason: The IP address and port have been bound already.\n"
        "[rank0]:         TraceBack (most recent call last):\n"
        "[rank0]:         host nic listen start failed, port[60000], return[11][FUNC:StartListenSocket]\n"
    )
    assert not r.partial
    assert r.signature and r.signature.endswith("error code is 11")


def test_paste_that_stops_inside_a_traceback_is_partial() -> None:
    partial = reading_of(
        "Traceback (most recent call last):\n"
        '  File "/usr/local/lib/python3.11/site-packages/torch/nn/functional.py", line 4100, in interpolate\n'
        "    return torch._C._nn.upsample_bicubic2d(input, output_size)\n"
    )
    assert partial.partial
    # Frames gain their dotted name, so the runbook's `torch.nn.functional.interpolate` matches.
    assert any("torch.nn.functional.interpolate" in t for t in partial.texts)
    whole = reading_of(
        "Traceback (most recent call last):\n"
        '  File "/x/torch/nn/functional.py", line 4100, in interpolate\n'
        "RuntimeError: NPU contiguous operator only supported contiguous memory format.\n"
    )
    assert not whole.partial


def test_fast_path_gives_every_line_the_same_role_as_the_full_check() -> None:
    import json
    from pathlib import Path

    from kb import BACKGROUND_LOG
    from kb.roles import full_role, role_of

    data = Path(__file__).parents[1] / "data" / "triage_cases"
    texts = [
        json.loads(x)["text"]
        for f in sorted(data.glob("*.jsonl"))
        for x in f.read_text().splitlines()
    ]
    texts.append(BACKGROUND_LOG.read_text())
    lines = [ln for t in texts for ln in normalise(t).lines]
    assert len(lines) > 5000
    assert [role_of(ln) for ln in lines] == [full_role(ln) for ln in lines]


def test_a_shell_prompt_line_is_what_the_user_ran_not_context() -> None:
    from kb.roles import Role

    r = reading_of(
        "root@node-910b-3:/workspace# vllm serve /models/Qwen3-8B --tensor-parallel-size 4\n"
        "(vllm) user@host:~$ python -m vllm.entrypoints.openai.api_server --model x\n"
        "启动后报错如下,请问怎么解决\n"
    )
    assert r.roles[:2] == (Role.INPUT, Role.INPUT)
    assert r.cause is None


def test_a_cann_report_with_a_reason_is_the_cause_and_its_traceback_is_detail() -> None:
    r = reading_of(
        "(Worker_TP1 pid=6270) ERROR 07-28 03:22:43 [multiproc_executor.py:987] EE9999[PID: 6270] "
        "2026-07-28-03:22:43.021.240 (EE9999):  rtStreamEndCapture execution failed, reason=an error "
        "has invalidated the stream capture sequence[FUNC:FuncErrorReason][FILE:error_message_manage.cc][LINE:65]\n"
        "(Worker_TP1 pid=6270) ERROR 07-28 03:22:43 [multiproc_executor.py:987]         TraceBack (most recent call last):\n"
        "(Worker_TP1 pid=6270) ERROR 07-28 03:22:43 [multiproc_executor.py:987]        synchronized memcpy "
        "failed, kind = 1, runtime result = 107030[FUNC:ReportCallError][FILE:log_inner.cpp][LINE:148]\n"
    )
    assert r.cause == 0
    assert r.signature is not None and r.signature.endswith(
        "invalidated the stream capture sequence"
    )
    assert not r.partial


def test_a_refused_request_on_a_serving_server_is_input_not_a_cause() -> None:
    r = reading_of(
        "(APIServer pid=1) INFO:     Application startup complete.\n"
        '(APIServer pid=1) INFO:     127.0.0.1:5 - "POST /v1/chat/completions HTTP/1.1" 400 Bad Request\n'
        "(APIServer pid=1) ERROR 01-01 00:00:00 [serving_chat.py:200] ValueError: This model's maximum "
        "context length is 4096 tokens. However, you requested 5000 tokens\n"
        '{"object":"error","message":"The model `qwen` does not exist.","type":"NotFoundError","param":null,"code":404}\n'
    )
    assert r.cause is None
    assert "@request-error" in r.facts
    assert "@first-request-crash" not in r.facts


def test_a_request_that_got_a_500_from_a_dead_engine_is_a_crash_on_a_request() -> None:
    r = reading_of(
        '  File "/x/modeling_chatglm.py", line 563, in forward\n'
        "    cache_k, cache_v = kv_cache\n"
        "ValueError: too many values to unpack (expected 2)\n"
        'INFO:     127.0.0.1:35456 - "POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error\n'
    )
    # Which request it was, the paste does not say: a hint of false-ready, not its proof.
    assert "@crash-on-request" in r.facts
    assert "@first-request-crash" not in r.facts
    assert "@request-error" not in r.facts


def test_vllm_v0s_dead_engine_error_is_read_as_the_error_it_quotes() -> None:
    """`MQEngineDeadError` carries the repr of what stopped the engine loop, on one line."""
    r = reading_of(
        "ERROR 06-23 13:46:28 [serving_chat.py:911] Traceback (most recent call last):\n"
        'ERROR 06-23 13:46:28 [serving_chat.py:911]   File "/x/vllm/engine/multiprocessing/'
        'client.py", line 596, in _process_request\n'
        "ERROR 06-23 13:46:28 [serving_chat.py:911]     raise request_output\n"
        "ERROR 06-23 13:46:28 [serving_chat.py:911] vllm.engine.multiprocessing.MQEngineDeadError: "
        "Engine loop is not running. Inspect the stacktrace to find the original error: "
        "RuntimeError('The current working operator name is ReshapeCacheOperation.\\n"
        "[ERROR] 2025-06-23-13:46:28 (PID:17133, Device:0, RankID:-1) ERR00100 PTA call acl api "
        "failed.\\n').\n"
    )
    assert r.signature and r.signature.startswith("RuntimeError('The current working operator")
    assert "@crash-on-request" in r.facts  # a request found the engine loop dead
    bare = reading_of("MQEngineDeadError: Engine loop is not running.\n")
    assert bare.cause is None  # nothing quoted: a wrapper, the cause is above it


def test_a_bare_exception_takes_its_meaning_from_the_frame_above() -> None:
    r = reading_of(
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.11/site-packages/vllm/model_executor/models/qwen3.py", line 80, in __init__\n'
        "    assert self.total_num_kv_heads % tp_size == 0\n"
        "AssertionError\n"
    )
    assert r.signature is not None
    assert r.signature.startswith(
        "AssertionError (at assert self.total_num_kv_heads % tp_size == 0"
    )
    assert "vllm.model_executor.models.qwen3.__init__" in r.signature


def test_a_cpp_exception_is_read_from_its_what_line() -> None:
    r = reading_of(
        "terminate called after throwing an instance of 'c10::Error'\n"
        "  what():  Float8_e4m3fn has not been supported\n"
        "Exception raised from ConvertToAclDataType at build/CMakeFiles/torch_npu.dir/compiler_depend.ts:139 (most recent call first):\n"
        "frame #0: c10::Error::Error(c10::SourceLocation, std::string) + 0xd4 (0xffff8db53ea4 in /usr/lib/libc10.so)\n"
    )
    assert r.signature == "Float8_e4m3fn has not been supported"


def test_a_transformers_import_says_who_imported_it() -> None:
    vllm_own = reading_of(
        '  File "/usr/lib/python3.11/site-packages/vllm/transformers_utils/configs/__init__.py", line 3, in <module>\n'
        "    from transformers import DeepseekV2Config\n"
        "ImportError: cannot import name 'DeepseekV2Config' from 'transformers' (/x/transformers/__init__.py)\n"
    )
    assert "@import-in-vllm" in vllm_own.facts
    remote = reading_of(
        '  File "/root/.cache/huggingface/modules/transformers_modules/m/modeling_m.py", line 9, in <module>\n'
        "    from transformers.utils import is_flash_attn_greater_or_equal_2_10\n"
        "ImportError: cannot import name 'is_flash_attn_greater_or_equal_2_10' from 'transformers.utils'\n"
    )
    assert "@import-in-vllm" not in remote.facts
    assert "@remote-code-module" in remote.facts


def test_a_paste_from_an_nvidia_gpu_says_so_and_one_from_an_npu_does_not() -> None:
    gpu = reading_of(
        "ValueError: The quantization method fp8 is not supported for the current GPU. "
        "Minimum capability: 90. Current capability: 86.\n"
    )
    assert "@platform-cuda" in gpu.facts
    npu = reading_of(
        "INFO 11-28 10:00:00 [platform.py:1] Automatically detected platform cuda.\n"
        "RuntimeError: call aclnnFusedInferAttentionScore failed, error code is 561002 (torch_npu)\n"
    )
    assert "@platform-cuda" not in npu.facts


def test_an_engine_that_dies_while_the_server_is_being_stopped_did_not_crash() -> None:
    r = reading_of(
        "(APIServer pid=1) INFO:     Application startup complete.\n"
        '(APIServer pid=1) INFO:     127.0.0.1:5 - "POST /v1/chat/completions HTTP/1.1" 200 OK\n'
        "(APIServer pid=1) INFO:     Shutting down\n"
        "(APIServer pid=1) ERROR 12-01 05:07:02 [async_llm.py:906] AsyncLLM output_handler failed.\n"
        "(APIServer pid=1) ERROR 12-01 05:07:02 [async_llm.py:906] vllm.v1.engine.exceptions."
        "EngineDeadError: EngineCore encountered an issue. See stack trace (above) for the root cause.\n"
    )
    assert "@first-request-crash" not in r.facts


def test_a_refused_command_line_is_a_usage_error() -> None:
    r = reading_of(
        "usage: vllm serve [model_tag] [options]\n"
        "vllm serve: error: argument --dtype: invalid choice: 'fp8' (choose from 'auto', "
        "'bfloat16', 'float', 'float16', 'float32', 'half')\n"
    )
    assert "@usage-error" in r.facts
    assert r.cause is None


def test_a_bare_transformers_import_with_no_frame_leaves_its_origin_open() -> None:
    bare = reading_of(
        "Fix error:\n"
        "ImportError: cannot import name 'DeepseekV2Config' from 'transformers' (/x/transformers/__init__.py)\n"
    )
    assert "@import-no-origin" in bare.facts
    asked_for_remote_code = reading_of(
        'llm = LLM(model="m", trust_remote_code=True)\n'
        "ImportError: cannot import name 'LossKwargs' from 'transformers.utils'\n"
    )
    assert "@import-no-origin" not in asked_for_remote_code.facts


def test_generated_text_mixing_many_scripts_is_garbled_output_and_prose_is_not() -> None:
    salad = reading_of(
        "输出是错误的内容, 如下:\n"
        "Prompt: 'Hello, my name is', Generated text: 'vertisement ה Various草肉 nextState กระจาย言う'\n"
    )
    assert "@garbled-output" in salad.facts
    prose = reading_of(
        "在910B上测试 Qwen3 模型, the server returns 200 and the answer is fine.\n"
        "Prompt: 'Hello', Generated text: ' I am a helpful assistant.'\n"
    )
    assert "@garbled-output" not in prose.facts


def test_a_missing_third_party_package_is_the_environment_not_vllm() -> None:
    r = reading_of(
        '  File "/x/transformers/models/qwen2_vl/image_processing_qwen2_vl.py", line 26, in <module>\n'
        "    from torchvision.transforms.v2 import functional as tvF\n"
        "ModuleNotFoundError: No module named 'torchvision'\n"
    )
    assert "@missing-package" in r.facts
    registry = reading_of(
        "ModuleNotFoundError: No module named 'vllm.model_executor.models.glm4v_moe'\n"
    )
    assert "@missing-package" not in registry.facts


def test_vllm_failing_to_import_itself_means_another_vllm_is_on_the_path() -> None:
    for paste in (
        "ImportError: cannot import name '__version__' from 'vllm' (unknown location)\n",
        "ModuleNotFoundError: No module named 'vllm.benchmarks.serve'\n",
        "No module named 'vllm._version'\n",
        '  File "/home/u/vllm/vllm/_custom_ops.py", line 176, in reshape_and_cache\n'
        '  File "/usr/lib/python3.10/site-packages/vllm/attention/layer.py", line 9, in forward\n'
        "RuntimeError: boom\n",
    ):
        assert "@wrong-vllm-imported" in reading_of(paste).facts, paste
    one_copy = reading_of(
        '  File "/usr/lib/python3.10/site-packages/vllm/engine/llm_engine.py", line 9, in step\n'
        '  File "/usr/lib/python3.10/site-packages/vllm/attention/layer.py", line 9, in forward\n'
        "RuntimeError: boom\n"
    )
    assert "@wrong-vllm-imported" not in one_copy.facts


def test_a_cann_report_that_times_out_is_the_cause() -> None:
    r = reading_of(
        "[ERROR] 2025-10-11-15:09:34 (PID:2969, Device:0, RankID:101) ERR00100 PTA call acl api failed.\n"
        "EI0002: [PID: 2969] 2025-10-11-15:09:34.713.335 The wait execution of the Notify register "
        "times out. Reason: The Notify register has not received the Notify record from remote rank\n"
    )
    assert r.signature is not None and r.signature.startswith("EI0002")


def test_an_error_line_right_before_a_traceback_is_the_exception_logger_exception_printed() -> None:
    # vLLM's `logger.exception(e)` prints str(e) alone, then the traceback.
    r = reading_of(
        "WARNING 03-03 07:43:54 registry.py:400] No model architectures are specified\n"
        "ERROR 03-03 07:43:54 engine.py:400] 'NoneType' object is not iterable\n"
        "ERROR 03-03 07:43:54 engine.py:400] Traceback (most recent call last):\n"
        'ERROR 03-03 07:43:54 engine.py:400]   File "/x/vllm/engine/multiprocessing/engine.py", '
        "line 391, in run_mp_engine\n"
        "ERROR 03-03 07:43:54 engine.py:400]     engine = MQLLMEngine.from_engine_args(engine_args)\n"
    )
    assert r.signature == "'NoneType' object is not iterable"
    # The same words with no traceback after them are a line of the log, not its cause.
    plain = reading_of("ERROR 03-03 07:43:54 engine.py:400] 'NoneType' object is not iterable\n")
    assert plain.signature is None


def test_a_reply_whose_text_repeats_one_token_is_garbled_output() -> None:
    reply = (
        '{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":'
        '{"role":"assistant","content":"%s"},"finish_reason":"length"}]}\n'
    )
    assert (
        "@garbled-output"
        in reading_of(reply % ("你好" + "\uff0c" * 3 + "我是" + "\uff0c" * 12)).facts
    )
    assert "@garbled-output" in reading_of(reply % ("!" * 40)).facts
    assert "@garbled-output" in reading_of(reply % ("the " * 12)).facts
    # A sentence, a table rule, or a person's own row of question marks is not a stuck model.
    assert "@garbled-output" not in reading_of(reply % "Hello! I am Qwen, an AI assistant.").facts
    assert "@garbled-output" not in reading_of(reply % ("-" * 40 + " 0000000000")).facts
    assert "@garbled-output" not in reading_of("why does it fail" + "\uff1f" * 10 + "\n").facts


def test_a_bare_exception_raised_by_name_is_a_cause() -> None:
    r = reading_of(
        "Exception: data did not match any variant of untagged enum ModelWrapper at line 1 column 3\n"
    )
    assert r.signature and r.signature.startswith("Exception: data did not match")


def test_a_startup_whose_compile_or_capture_took_minutes_says_so() -> None:
    slow = reading_of(
        "(EngineCore_DP0 pid=6448) INFO 02-12 15:00:36 [backends.py:319] Compiling a graph for "
        "compile range (1, 8000) takes 2219.43 s\n"
        "(EngineCore_DP0 pid=6448) INFO 02-12 15:00:36 [monitor.py:34] torch.compile takes "
        "2222.52 s in total\n"
    )
    assert "@long-capture" in slow.facts
    captured = reading_of(
        "INFO 12-07 10:00:00 [gpu_model_runner.py:1] Graph capturing finished in 412 secs, took 0.5 GiB\n"
    )
    assert "@long-capture" in captured.facts
    quick = reading_of(
        "INFO 06-19 23:05:18 [monitor.py:33] torch.compile takes 7.51 s in total\n"
        "INFO 06-19 23:05:30 [gpu_model_runner.py:1] Graph capturing finished in 12 secs, took 0.4 GiB\n"
    )
    assert "@long-capture" not in quick.facts


def test_an_issue_templates_checklist_is_the_form_not_the_log() -> None:
    r = reading_of(
        "- [X] I have checked the documentation and cannot find a solution there.\n"
        "- [ ] I have searched the issues and there is not a similar one.\n"
        "qwen2.5-72b-instruct answers are garbled on 910B\n"
    )
    assert r.roles[:2] == (Role.BENIGN, Role.BENIGN)
    assert r.roles[2] is not Role.BENIGN


def test_vllms_low_ulimit_warning_names_an_error_that_did_not_happen() -> None:
    # In every healthy log on a box with a low `ulimit -n`; its `OSError` is hypothetical.
    r = reading_of(
        "WARNING 05-20 07:41:02 [utils.py:2588] Found ulimit of 20000 and failed to "
        "automatically increase with error current limit exceeds maximum limit. This can "
        "cause fd limit errors like `OSError: [Errno 24] Too many open files`. Consider "
        "increasing with ulimit -n\n"
        "INFO 05-20 07:41:42 [api_server.py:1] Starting vLLM API server on http://0.0.0.0:8000\n"
    )
    assert r.roles[0] is Role.BENIGN and not r.has_errors
