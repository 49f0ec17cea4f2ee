"""The recipes of make_corpus_logs.py: a model folder with one defect, serve flags, requests.

Labels are runbook entry ids (/work/shared/runbooks/vllm-ascend-troubleshooting.md) chosen from
what the log shows; each note says why, and BORDERLINE marks a judgement call. The root-cause
lines quoted in the notes are the ones vLLM 0.32.0 CPU printed when the corpus was made.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass

from tests.real_vllm.corpus_clients import (
    chat,
    chat_then_completion,
    chat_twice,
    kill_engine_core,
    many_requests,
    prompt_too_long,
    wrong_model_name,
)
from tests.real_vllm.corpus_models import (
    Builder,
    corrupt_tokenizer,
    invalid_json,
    no_chat_template,
    qwen2_vl,
    remote_code,
    tiny,
    with_config,
    with_weights,
    without,
)

# (base url, served model name, process group id, list the client appends what it saw to)
Client = Callable[[str, str, int, list[str]], None]

TINY = ("--load-format", "dummy", "--kv-cache-memory-bytes", "64M", "--max-model-len", "512")
EAGER = (*TINY, "--enforce-eager")
REAL_WEIGHTS = ("--kv-cache-memory-bytes", "64M", "--max-model-len", "512", "--enforce-eager")


@dataclass(frozen=True)
class Recipe:
    name: str
    expected: str | None
    defect: str
    note: str
    build: Builder
    args: tuple[str, ...] = EAGER
    client: Client | None = None
    stop_signal: int = signal.SIGINT
    port_taken: bool = False
    # Stop the server `stop_after_s` after this text first shows in its log, ready or not (a
    # person who gives up waiting).
    stop_when: str | None = None
    stop_after_s: float = 0.0
    # Text the log must show for the label and note to hold (the last: the root-cause line).
    evidence: tuple[str, ...] = ()


# --- the recipes --------------------------------------------------------------------------------

HEAD_DIVISIBILITY = "qk-norm-mismatch-kv-heads-tp-head-divisibility"
MAX_LEN = "config-max-length-works-on-paper-but-not-in-runtime"
FALSE_READY = "false-ready-startup-succeeds-but-first-request-crashes"
KEY_MISMATCH = "weight-loading-key-mismatch"
REMOTE_IMPORT = "remote-code-import-fails-on-transformers-symbols"

RECIPES: list[Recipe] = [
    Recipe(
        "healthy-chat",
        None,
        "none: healthy tiny Llama, dummy weights, eager",
        "NEGATIVE: a healthy eager start, one chat answered 200, then SIGINT. The WARNINGs (ulimit, "
        "Triton, LD_PRELOAD, NUMA binding) are on every start.",
        tiny(),
        client=chat,
        evidence=('"POST /v1/chat/completions HTTP/1.1" 200 OK',),
    ),
    Recipe(
        "head-dim-16-false-ready",
        FALSE_READY,
        "head_dim 16 in config.json (no CPU attention kernel)",
        "POSITIVE: startup completes and /health is 200, then the first chat is a 500: Worker "
        "'RuntimeError: Unsupported CPU attention configuration: head_dim=16 isa=2 kv_cache_idx=0', "
        "EngineCore 'fatal error', APIServer 'EngineDeadError', and the server exits by itself.",
        tiny(head_dim=16),
        client=chat_twice,
        evidence=(
            "Application startup complete",
            "Unsupported CPU attention configuration: head_dim=16",
        ),
    ),
    Recipe(
        "no-weights",
        None,
        "no weight files in the model folder and no --load-format dummy",
        "NEGATIVE (near miss of weight-loading-key-mismatch): Worker 'RuntimeError: Cannot find any "
        "model weights with `<model dir>`', then 'EngineCore failed to start'. The checkpoint is "
        "absent; no key is missing or unexpected.",
        tiny(),
        args=REAL_WEIGHTS,
        evidence=("Cannot find any model weights",),
    ),
    Recipe(
        "renamed-weight-keys",
        KEY_MISMATCH,
        "model.safetensors names attention tensors 'attention.*' instead of 'self_attn.*'",
        "POSITIVE: real bf16 safetensors, no dummy load. Worker 'ValueError: There is no module or "
        "parameter named 'layers.0.attention' in LlamaModel. The available parameters belonging to "
        "layers.0 (LlamaDecoderLayer) are: {...}', startup fails: an unexpected-key mismatch.",
        with_weights(renames=(("self_attn.", "attention."),)),
        args=REAL_WEIGHTS,
        client=chat,
        evidence=("There is no module or parameter named 'layers.0.attention'",),
    ),
    Recipe(
        "unexpected-qk-norm-keys",
        KEY_MISMATCH,
        "model.safetensors also holds self_attn.q_norm/k_norm weights (a Qwen3-style checkpoint "
        "labelled LlamaForCausalLM)",
        "POSITIVE: two extra tensors the Llama model has no parameter for. Worker 'ValueError: There "
        "is no module or parameter named 'layers.0.self_attn.k_norm' in LlamaModel. The available "
        "parameters belonging to layers.0.self_attn (LlamaAttention) are: {...}', startup fails. Mentions q_norm but is a key mismatch, not the QK-norm head-divisibility entry.",
        with_weights(
            extras=(
                ("model.layers.0.self_attn.q_norm.weight", (32,)),
                ("model.layers.0.self_attn.k_norm.weight", (32,)),
            )
        ),
        args=REAL_WEIGHTS,
        client=chat,
        evidence=("There is no module or parameter named 'layers.0.self_attn.k_norm'",),
    ),
    Recipe(
        "missing-weight-tensor",
        None,
        "model.safetensors lacks model.layers.1.mlp.down_proj.weight",
        "NEGATIVE (hard, BORDERLINE): the checkpoint really misses a tensor, but vLLM 0.32.0 loads "
        "it without a word (its 'weights were not initialized from checkpoint' check runs for "
        "quantized models only): ready, and the chat is 200 (its reply varies from run to run, "
        "empty or gibberish: the unloaded down_proj keeps whatever its memory held). Nothing in "
        "the log shows "
        "a missing key, so by the log it is a healthy run (labelled null); the missing key shows "
        "only in the checkpoint.",
        with_weights(drops=("model.layers.1.mlp.down_proj.weight",)),
        args=REAL_WEIGHTS,
        client=chat,
        evidence=('"POST /v1/chat/completions HTTP/1.1" 200 OK',),
    ),
    Recipe(
        "heads-not-dividing-hidden",
        None,
        "num_attention_heads 3 with hidden_size 128 and no head_dim in config.json",
        "NEGATIVE (BORDERLINE, near miss of " + HEAD_DIVISIBILITY + "): transformers rejects the "
        "config before vLLM resolves it: 'ValueError: The hidden size (128) is not a multiple of "
        "the number of attention heads (3).' (repo_utils ERROR twice, then a "
        "StrictDataclassClassValidationError traceback). A malformed config caught at parse time: "
        "no KV heads, no TP, no shape mismatch at runtime; the fix is the config.",
        with_config(num_attention_heads=3, num_key_value_heads=1, head_dim=None),
        client=chat,
        evidence=("The hidden size (128) is not a multiple of the number of attention heads (3)",),
    ),
    Recipe(
        "kv-heads-not-dividing-heads",
        HEAD_DIVISIBILITY,
        "num_key_value_heads 3 with num_attention_heads 4 in config.json",
        "BORDERLINE: the config parses; the Worker fails building the attention layers: "
        "'AssertionError: num_heads (4) is not divisible by num_kv_heads (3)', then 'EngineCore "
        "failed to start'. Labelled with the entry because the failure is KV-head/head "
        "divisibility (its title and its 'head topology is not cleanly divisible' symptom), though "
        "it is an assertion rather than the entry's QK-norm shape mismatch.",
        with_config(num_key_value_heads=3),
        client=chat,
        evidence=("num_heads (4) is not divisible by num_kv_heads (3)",),
    ),
    Recipe(
        "config-invalid-json",
        None,
        "config.json has a trailing comma (not valid JSON)",
        "NEGATIVE: bare traceback ending 'OSError: It looks like the config file at "
        "'<model dir>/config.json' is not a valid JSON file.' No runbook entry covers it.",
        invalid_json,
        evidence=("is not a valid JSON file",),
    ),
    Recipe(
        "unknown-architecture",
        "architecture-not-recognized",
        "architectures ['NoSuchForCausalLM'] in config.json",
        "POSITIVE: pydantic 'ValidationError: 1 validation error for ModelConfig / Value error, "
        "Model architectures ['NoSuchForCausalLM'] are not supported for now. Supported "
        "architectures: dict_keys([...])' (a ~10 KB line); the log's last line is the pydantic URL.",
        tiny(architecture="NoSuchForCausalLM"),
        evidence=("Model architectures ['NoSuchForCausalLM'] are not supported for now",),
    ),
    Recipe(
        "remote-code-without-trust",
        None,
        "auto_map custom code (configuration_tiny.py, modeling_tiny.py), no --trust-remote-code",
        "NEGATIVE (BORDERLINE, near miss of " + REMOTE_IMPORT + "): 'The repository <model dir> "
        "contains custom code which must be executed to correctly load the model. ... Please pass "
        "the argument `trust_remote_code=True`' (repo_utils ERROR twice, then a pydantic "
        "ValidationError). Remote code is involved but nothing failed to import: the flag is "
        "missing, and no runbook entry covers that.",
        remote_code(),
        evidence=("Please pass the argument `trust_remote_code=True`",),
    ),
    Recipe(
        "remote-code-stale-import",
        REMOTE_IMPORT,
        "--trust-remote-code; modeling_tiny.py imports LlamaFlashAttention2 (gone from transformers)",
        "BORDERLINE (hard): vLLM has no TinyRemoteForCausalLM, tries the Transformers backend "
        "through auto_map and logs WARNING 'Unable to load modeling_tiny.TinyRemoteForCausalLM' "
        "with 'ImportError: cannot import name 'LlamaFlashAttention2' from "
        "'transformers.models.llama.modeling_llama'' (twice); the fatal error is then 'Model "
        "architectures ['TinyRemoteForCausalLM'] are not supported for now'. The root cause is the "
        "stale import; the last error reads like architecture-not-recognized.",
        remote_code("modeling"),
        args=(*EAGER, "--trust-remote-code"),
        client=chat,
        evidence=(
            "are not supported for now",
            "ImportError: cannot import name 'LlamaFlashAttention2'",
        ),
    ),
    Recipe(
        "remote-code-stale-import-config",
        REMOTE_IMPORT,
        "--trust-remote-code; configuration_tiny.py imports LlamaFlashAttention2",
        "POSITIVE: config loading fails: repo_utils ERROR 'Error parsing config for <model dir>: "
        "cannot import name 'LlamaFlashAttention2' from 'transformers.models.llama.modeling_llama'' "
        "twice, then a bare traceback ending in that ImportError.",
        remote_code("config"),
        args=(*EAGER, "--trust-remote-code"),
        evidence=("ImportError: cannot import name 'LlamaFlashAttention2'",),
    ),
    Recipe(
        "max-model-len-beyond-config",
        MAX_LEN,
        "--max-model-len 100000 > max_position_embeddings 2048",
        "BORDERLINE: pydantic 'Value error, User-specified max_model_len (100000) is greater than the "
        "derived max_model_len (max_position_embeddings=2048.0 or model_max_length=None in model's "
        "config.json). To allow overriding this maximum, set the env var "
        "VLLM_ALLOW_LONG_MAX_MODEL_LEN=1...' at config time. The entry is about a length valid for "
        "the config that cannot be served; here the length exceeds the config itself. Labelled "
        "with it because the error is about the derived max length and the entry's actions (record "
        "the config max, find the practical max) are the next step; null is defensible.",
        tiny(),
        args=(
            "--load-format",
            "dummy",
            "--kv-cache-memory-bytes",
            "64M",
            "--max-model-len",
            "100000",
            "--enforce-eager",
        ),
        evidence=(
            "User-specified max_model_len (100000) is greater than the derived max_model_len",
        ),
    ),
    Recipe(
        "kv-cache-too-small",
        MAX_LEN,
        "--max-model-len 2048 (= max_position_embeddings) with --kv-cache-memory-bytes 512K",
        "POSITIVE: EngineCore 'ValueError: To serve at least one request with the model's max seq "
        "len (2048), (0.0 GiB KV cache is needed, which is larger than the available KV cache "
        "memory (0.0 GiB). Based on the available memory, the estimated maximum model length is "
        "896. ...' then 'Engine core initialization failed'. Valid on paper, not servable.",
        tiny(),
        args=(
            "--load-format",
            "dummy",
            "--kv-cache-memory-bytes",
            "512K",
            "--max-model-len",
            "2048",
            "--enforce-eager",
        ),
        evidence=("To serve at least one request with the model's max seq len (2048)",),
    ),
    Recipe(
        "config-max-len-1m",
        MAX_LEN,
        "max_position_embeddings 1048576 in config.json, no --max-model-len, 64 MiB KV cache",
        "POSITIVE: vLLM takes the config's length; EngineCore 'ValueError: To serve at least one "
        "request with the model's max seq len (1048576), (0.5 GiB KV cache is needed, which is "
        "larger than the available KV cache memory (0.06 GiB). Based on the available memory, the "
        "estimated maximum model length is 130944. ...'. The entry's exact case.",
        tiny(max_position_embeddings=1048576),
        args=("--load-format", "dummy", "--kv-cache-memory-bytes", "64M", "--enforce-eager"),
        evidence=("To serve at least one request with the model's max seq len (1048576)",),
    ),
    Recipe(
        "prompt-too-long",
        None,
        "a chat prompt of over 512 tokens against --max-model-len 512",
        "NEGATIVE: a client error. The long chat gets 400 (the reason, 'This model's maximum context "
        "length is 512 tokens...', is in the HTTP body only; the log has just the access line "
        "'400 Bad Request'); the next chat is 200.",
        tiny(),
        client=prompt_too_long,
        evidence=(
            '"POST /v1/chat/completions HTTP/1.1" 200 OK',
            '"POST /v1/chat/completions HTTP/1.1" 400 Bad Request',
        ),
    ),
    Recipe(
        "unknown-model-name",
        None,
        "the request names model Qwen/Qwen2.5-7B-Instruct; the server serves the folder path",
        "NEGATIVE: a client error on a healthy server: APIServer ERROR 'Error with model "
        "error=ErrorInfo(message='The model `Qwen/Qwen2.5-7B-Instruct` does not exist...', "
        "type='NotFoundError', ... code=404)' and '404 Not Found'; the next chat is 200.",
        tiny(),
        client=wrong_model_name,
        evidence=("The model `Qwen/Qwen2.5-7B-Instruct` does not exist",),
    ),
    Recipe(
        "many-requests-sigterm",
        None,
        "none: 12 requests served, then SIGTERM to the group",
        "NEGATIVE: healthy; 12 chat/completion requests all 200, then SIGTERM.",
        tiny(),
        client=many_requests,
        stop_signal=signal.SIGTERM,
        evidence=('"POST /v1/completions HTTP/1.1" 200 OK',),
    ),
    Recipe(
        "port-taken",
        "server-fails-to-bind-on-8000-or-fails-with-hccl-bind-errors",
        "another process already listens on 127.0.0.1:<port>",
        "POSITIVE: bare traceback through launcher.py create_server_socket / sock.bind ending "
        "'OSError: [Errno 98] Address already in use', before the model config is resolved. The "
        "port is not 8000 here.",
        tiny(),
        port_taken=True,
        evidence=("OSError: [Errno 98] Address already in use",),
    ),
    Recipe(
        "unknown-cli-flag",
        None,
        "--max-model-length 4096 (a typo of --max-model-len)",
        "NEGATIVE: argparse 'vllm: error: unrecognized arguments: --max-model-length 4096', rc 2, "
        "a few lines. Mentions the max length but is a CLI typo, not " + MAX_LEN + ".",
        tiny(),
        args=(*EAGER, "--max-model-length", "4096"),
        evidence=("unrecognized arguments: --max-model-length",),
    ),
    Recipe(
        "bad-dtype",
        None,
        "--dtype fp8 (not a --dtype choice)",
        "NEGATIVE (near miss of fp8-checkpoint-on-ascend-a2-a3-must-dequant-to-bf16 by keyword): "
        "argparse 'vllm serve: error: argument --dtype: invalid choice: 'fp8' (choose from ...)', "
        "rc 2. A CLI mistake.",
        tiny(),
        args=(*EAGER, "--dtype", "fp8"),
        evidence=("argument --dtype: invalid choice: 'fp8'",),
    ),
    Recipe(
        "bad-quantization",
        None,
        "--quantization ascend on a vLLM without the vllm-ascend plugin",
        "NEGATIVE: pydantic 'Value error, Unknown quantization method: ascend. Must be one of "
        "[...]' at config time. vllm-ascend's method asked of a vLLM without the plugin.",
        tiny(),
        args=(*EAGER, "--quantization", "ascend"),
        evidence=("Unknown quantization method: ascend",),
    ),
    Recipe(
        "fp8-on-cpu",
        "fp8-checkpoint-on-ascend-a2-a3-must-dequant-to-bf16",
        "--quantization fp8 (online fp8 quantization of a bf16 checkpoint) on the CPU build",
        "BORDERLINE: the Worker fails in online fp8 quantization while loading: 'RuntimeError: "
        "_C::static_scaled_fp8_quant() expected at most 0 argument(s) but received 4 argument(s). "
        "Declaration: _C::static_scaled_fp8_quant() -> ()': no fp8 kernel on this hardware. "
        "Labelled with the entry for its 'fp8 kernels unsupported' symptom and its first action "
        "'do not force fp8 quantization kernels'; but this is a CPU, not Ascend, and the checkpoint "
        "is bf16, not fp8.",
        tiny(),
        args=(*EAGER, "--quantization", "fp8"),
        client=chat,
        evidence=("_C::static_scaled_fp8_quant() expected at most 0 argument(s)",),
    ),
    Recipe(
        "tokenizer-missing",
        None,
        "tokenizer.json, tokenizer_config.json and special_tokens_map.json deleted",
        "NEGATIVE: HF_HUB_OFFLINE=1; transformers falls back to a slow tokenizer and fails: "
        "'ValueError: Couldn't instantiate the backend tokenizer from one of: ... You need to have "
        "sentencepiece or tiktoken installed to convert a slow tokenizer to a fast one.'",
        without("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"),
        client=chat,
        evidence=("Couldn't instantiate the backend tokenizer",),
    ),
    Recipe(
        "tokenizer-corrupt",
        None,
        "tokenizer.json truncated to half (an interrupted copy)",
        "NEGATIVE: bare traceback ending 'json.decoder.JSONDecodeError: Expecting ',' delimiter: "
        "line ... column ... (char ...)' while loading the tokenizer.",
        corrupt_tokenizer,
        client=chat,
        evidence=("json.decoder.JSONDecodeError",),
    ),
    Recipe(
        "no-chat-template",
        None,
        "tokenizer_config.json has no chat_template",
        "NEGATIVE: a request error on a healthy server. Chat gets 400 ('As of transformers v4.44, "
        "default chat template is no longer allowed, so you must provide a chat template...' in "
        "the HTTP body only; the log has just '400 Bad Request'); /v1/completions is 200. Near miss "
        "of api-reachable-but-output-quality-odd (endpoint vs template), but no odd output.",
        no_chat_template,
        client=chat_then_completion,
        evidence=(
            '"POST /v1/completions HTTP/1.1" 200 OK',
            '"POST /v1/chat/completions HTTP/1.1" 400 Bad Request',
        ),
    ),
    Recipe(
        "qwen2-vl-no-torchvision",
        None,
        "Qwen2VLForConditionalGeneration config without processor files; the vLLM CPU venv has no "
        "torchvision (scripts/vllm-cpu-env removes it)",
        "NEGATIVE: the missing processor files are never reached: inspecting the architecture "
        "fails in a subprocess with 'ModuleNotFoundError: No module named 'torchvision'' (registry "
        "ERROR lines), then pydantic 'Model architectures ['Qwen2VLForConditionalGeneration'] "
        "failed to be inspected. Please check the logs for more details.' An environment problem; "
        "not the skip_tensor_conversion processor entry, not architecture-not-recognized.",
        qwen2_vl,
        client=chat,
        evidence=(
            "failed to be inspected",
            "No module named 'torchvision'",
        ),
    ),
    Recipe(
        "tp-not-dividing-heads",
        HEAD_DIVISIBILITY,
        "--tensor-parallel-size 3 with 4 attention heads",
        "BORDERLINE: pydantic 'Value error, Total number of attention heads (4) must be divisible by "
        "tensor parallel size (3).' at config time. Labelled with the entry (its title: heads / TP "
        "/ head divisibility), though it is a clean validation error, not its QK-norm shape "
        "mismatch; the fix is a TP size that divides the heads.",
        tiny(),
        args=(*EAGER, "--tensor-parallel-size", "3"),
        evidence=(
            "Total number of attention heads (4) must be divisible by tensor parallel size (3)",
        ),
    ),
    Recipe(
        "engine-core-killed",
        None,
        "healthy; after one chat the EngineCore process is SIGKILLed (as by the OOM killer)",
        "NEGATIVE (hard): the first chat is 200, so not a false-ready; then APIServer WARNING "
        "'MPClient: engine core exited unexpectedly; starting cleanup', 'AsyncLLM output_handler "
        "failed ... EngineDeadError', the next chat 500 and the server shuts down. The log has no "
        "cause (an outside kill); no runbook entry fits.",
        tiny(),
        client=kill_engine_core,
        evidence=(
            '"POST /v1/chat/completions HTTP/1.1" 200 OK',
            "engine core exited unexpectedly",
        ),
    ),
    Recipe(
        "compiled-healthy",
        None,
        "none: healthy, compiled mode (no --enforce-eager)",
        "NEGATIVE: torch.compile warm-up ('Warming up model for the compilation...', 'saved AOT "
        "compiled function', 'Warming up done.'), ready, chat 200.",
        tiny(),
        args=TINY,
        client=chat,
        evidence=(
            "Warming up done",
            '"POST /v1/chat/completions HTTP/1.1" 200 OK',
        ),
    ),
    Recipe(
        "head-dim-16-compiled",
        FALSE_READY,
        "head_dim 16 in config.json, compiled mode",
        "POSITIVE: the compiled start succeeds (warm-up does not touch the CPU attention kernel), "
        "the first chat is a 500 with 'RuntimeError: Unsupported CPU attention configuration: "
        "head_dim=16 isa=2 kv_cache_idx=0' and the server exits by itself.",
        tiny(head_dim=16),
        args=TINY,
        client=chat,
        evidence=(
            "Warming up done",
            "Unsupported CPU attention configuration: head_dim=16",
        ),
    ),
    Recipe(
        "compiled-interrupted-in-warmup",
        "startup-appears-stuck-in-graph-mode",
        "healthy, compiled mode; the operator presses Ctrl-C (SIGINT to the group) 10 s into "
        "'Warming up model for the compilation...'",
        "BORDERLINE: the log stops at the compile warm-up, then '[shutdown] EngineCore: trigger "
        "received signal=SIGINT', 'Worker proc VllmWorker-0 died unexpectedly', 'EngineCore failed "
        "to start' ... 'RuntimeError: cancelled' (or a similar cancel): a start given up during "
        "compilation, which would have finished. The entry's case (keep waiting), though the log "
        "ends in errors caused by the interrupt.",
        tiny(),
        args=TINY,
        stop_when="Warming up model for the compilation",
        stop_after_s=10.0,
        evidence=(
            "Warming up model for the compilation",
            "RuntimeError: cancelled",
        ),
    ),
]
