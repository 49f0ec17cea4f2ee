#!/usr/bin/env python3
"""A stand-in `vllm` executable for machines with no NPU (standard library only).

`fake_vllm.py serve MODEL [flags]` logs, binds, listens and fails the way `vllm serve` does
(V1 engine + vllm-ascend), so the runner can be tested end to end. Log strings follow real
vLLM / vllm-ascend logs: those under examples/ and tests/data/, and the troubleshooting
runbook's symptoms (kb/data/vllm-ascend-troubleshooting.md).

The scenario is the model's last path component when it names one (`fake/false-ready-fia`),
else FAKE_VLLM_SCENARIO, else `healthy`. FAKE_VLLM_TIME_SCALE multiplies every sleep;
FAKE_VLLM_REPLY_DELAY_S holds every generation request that long (real seconds);
FAKE_VLLM_IGNORE_SIGINT=1 / FAKE_VLLM_IGNORE_SIGTERM=1 make the main process ignore those
signals. Real knobs the scenarios react to: --enforce-eager, --max-model-len,
--load-format dummy (no weights read: a tenth of the load time, no `Loading weights took`
line, as in vLLM), HCCL_OP_EXPANSION_MODE=AIV, TORCHDYNAMO_DISABLE=1,
VLLM_KEEP_ALIVE_ON_ENGINE_DEATH.
Replies are deterministic per request, and change with --dtype (other numerics) and with
FAKE_VLLM_REPLY_SALT (another build of the same stack on the same flags).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, cast

VERSION = "0.32.0+fake"
SCENARIOS: tuple[str, ...] = ("healthy", "slow-capture", "arch-unknown", "hccl-bind", "hang")
SCENARIOS += ("false-ready-fia", "graph-only-mla", "vl-dynamo", "capture-507903", "kv-too-small")
# Replies with HTTP 200 that are not answers (the runbook's "output quality odd").
SCENARIOS += ("commas", "special-tokens", "template-echo", "one-token", "graph-garbles")
SCENARIOS += ("no-template", "huge-reply", "bad-json", "non-utf8")
# Graph mode answers other words than eager, each a clean answer (a precision drift).
SCENARIOS += ("graph-drifts",)
# Graph capture fails unless AIV; with AIV the real weights crash the first request in graph
# mode (dummy weights do not): only the autopilot's confirm on the real weights sees it.
SCENARIOS += ("capture-real-crash",)
CHATML = "<|im_start|>{role}\n{text}<|im_end|>\n"
NO_TEMPLATE = (
    "As of transformers v4.44, default chat template is no longer allowed, so you must "
    "provide a chat template if the tokenizer does not define one."
)
WORDS = ("the", "river", "quiet", "north", "stone", "light", "seven", "blue", "cloud", "garden")
ROUTES = ("/health", "/version", "/v1/models", "/v1/chat/completions", "/v1/completions")
MAX_BODY = 20 * 1024 * 1024
MIN_IMAGE_SIDE = 448
SITE = "/usr/local/python3.11.13/lib/python3.11/site-packages"
DEAD = "EngineCore encountered an issue. See stack trace (above) for the root cause."
Reply = tuple[int, bytes, Callable[[], None] | None]

BANNER = """\
       █     █     █▄   ▄█
 ▄▄ ▄█ █     █     █ ▀▄▀ █  version {version}
  █▄█▀ █     █     █     █  model   {model}
   ▀▀  ▀▀▀▀▀ ▀▀▀▀▀ ▀     ▀"""
CONFIG = "model='{model}', speculative_config=None, tokenizer='{model}', skip_tokenizer_init=False, tokenizer_mode=auto, revision=None, trust_remote_code=False, dtype=torch.bfloat16, max_seq_len={len}, download_dir=None, load_format={load}, tensor_parallel_size=1, pipeline_parallel_size=1, data_parallel_size=1, quantization=None, enforce_eager={eager}, kv_cache_dtype=auto, device_config=npu, seed=0, served_model_name={name}, enable_prefix_caching=True, enable_chunked_prefill=True, compilation_config={compilation}"
COMPILATION = {
    False: '{"level":3,"mode":3,"backend":"","custom_ops":["all"],"cudagraph_mode":"FULL_AND_PIECEWISE","cudagraph_capture_sizes":[1,2,4,8,16,24,32,40,48],"max_cudagraph_capture_size":48}',
    True: '{"level":0,"mode":0,"backend":"","custom_ops":["all"],"cudagraph_mode":"NONE","cudagraph_capture_sizes":[],"max_cudagraph_capture_size":0}',
}

# Tracebacks as they print, except that a `path|line|function|source` line stands for a File
# line (under SITE unless absolute) and a line naming another entry splices that entry in.
TRACEBACKS = {
    "cli": """\
/usr/local/python3.11.13/bin/vllm|8|<module>|sys.exit(main())
vllm/entrypoints/cli/main.py|73|main|args.dispatch_function(args)
vllm/entrypoints/cli/serve.py|60|cmd|uvloop.run(run_server(args))""",
    "serve": """\
cli
vllm/entrypoints/openai/api_server.py|1907|run_server|await run_server_worker(listen_address, sock, args, **uvicorn_kwargs)
vllm/entrypoints/openai/api_server.py|1926|run_server_worker|async with build_async_engine_client(""",
    "bind": """\
Traceback (most recent call last):
cli
vllm/entrypoints/openai/api_server.py|1906|run_server|listen_address, sock = setup_server(args)
vllm/entrypoints/openai/api_server.py|1868|setup_server|sock = create_server_socket(sock_addr)
vllm/entrypoints/openai/api_server.py|1823|create_server_socket|sock.bind(addr)
OSError: [Errno {errno}] {strerror}""",
    "arch-unknown": """\
Traceback (most recent call last):
serve
vllm/engine/arg_utils.py|1154|create_model_config|return ModelConfig(
pydantic/_internal/_dataclasses.py|121|__init__|s.__pydantic_validator__.validate_python(ArgsKwargs(args, kwargs), self_instance=s)
pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig
  Value error, Model architectures ['NoSuchForCausalLM'] are not supported for now. Supported architectures: dict_keys(['AquilaForCausalLM', 'BaichuanForCausalLM', 'DeepseekV3ForCausalLM', 'LlamaForCausalLM', 'Qwen2ForCausalLM', 'Qwen3ForCausalLM', 'Qwen3MoeForCausalLM', 'Qwen2_5_VLForConditionalGeneration']) [type=value_error, input_value=ArgsKwargs((), {'model': '{model}'}), input_type=ArgsKwargs]
    For further information visit https://errors.pydantic.dev/2.12/v/value_error""",
    "wait": """\
Traceback (most recent call last):
serve
vllm/v1/engine/async_llm.py|226|from_vllm_config|return cls(
vllm/v1/engine/utils.py|931|wait_for_engine_startup|raise RuntimeError(
RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {'EngineCore_DP0': 1}""",
    "stop": """\
Traceback (most recent call last):
serve
vllm/entrypoints/openai/api_server.py|1862|signal_handler|raise KeyboardInterrupt("terminated")
KeyboardInterrupt: terminated""",
    "dead": """\
Traceback (most recent call last):
vllm/v1/engine/async_llm.py|439|output_handler|outputs = await engine_core.get_output_async()
vllm/v1/engine/core_client.py|846|get_output_async|raise self._format_exception(outputs) from None
vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue. See stack trace (above) for the root cause.""",
    "start": """\
Traceback (most recent call last):
vllm/v1/engine/core.py|857|run_engine_core|engine_core = EngineCoreProc(*args, **kwargs)
vllm/v1/engine/core.py|636|__init__|super().__init__(vllm_config, executor_class, log_stats,""",
    "hccl-bind": """\
start
vllm/v1/engine/core.py|102|__init__|self.model_executor = executor_class(vllm_config)
vllm/v1/executor/uniproc_executor.py|46|_init_executor|self.driver_worker.init_device()
vllm_ascend/worker/worker.py|255|init_device|self._init_worker_distributed_environment()
torch/distributed/distributed_c10d.py|4813|barrier|work = group.barrier(opts=opts)
RuntimeError: createHCCLComm:build/CMakeFiles/torch_npu.dir/compiler_depend.ts:1479 HCCL function error: HcclGetRootInfo(&hcclID), error code is 11
[ERROR] {now} (PID:{pid}, Device:0, RankID:-1) ERR02200 DIST call hccl api failed.
EJ0003: [PID: {pid}] {now} Failed to bind the IP port. Reason: The IP address and port have been bound already.
        TraceBack (most recent call last):
        host nic listen start failed, port[60000], return[11][FUNC:StartListenSocket][FILE:network_manager.cc][LINE:1163]""",
    "kv-too-small": """\
start
vllm/v1/engine/core.py|236|_initialize_kv_caches|kv_cache_configs = get_kv_cache_configs(vllm_config, kv_cache_specs, available_gpu_memory)
vllm/v1/core/kv_cache_utils.py|703|_check_enough_kv_cache_memory|raise ValueError(
ValueError: To serve at least one request with the model's max seq len ({len}), {need} GiB KV cache is needed, which is larger than the available KV cache memory (0.75 GiB). Based on the available memory, the estimated maximum model length is 2048. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.""",
    "capture-507903": """\
start
vllm_ascend/worker/model_runner_v1.py|4310|capture_model|self._capture_model()
vllm_ascend/compilation/acl_graph.py|212|__call__|with torch.npu.graph(aclgraph, pool=self.graph_pool):
torch_npu/npu/graphs.py|232|__exit__|self.npu_graph.capture_end()
RuntimeError: capture_end:build/CMakeFiles/torch_npu.dir/compiler_depend.ts:187 NPU function error: c10_npu::acl::AclmdlRICaptureEnd(capture_stream_, &model_ri), error code is 507903
[ERROR] {now} (PID:{pid}, Device:0, RankID:-1) ERR00100 PTA call acl api failed.
EE9999: Inner Error!
EE9999[PID: {pid}] {now} rtStreamEndCapture execution failed, reason=an error has invalidated the stream capture sequence[FUNC:FuncErrorReason][FILE:error_message_manage.cc][LINE:53]
        TraceBack (most recent call last):""",
    "step": """\
Traceback (most recent call last):
vllm/v1/engine/core.py|921|run_engine_core|engine_core.run_busy_loop()
vllm/v1/engine/core.py|973|_process_engine_step|outputs, model_executed = self.step_fn()
vllm/v1/engine/core.py|355|step|model_output = self.model_executor.execute_model(scheduler_output)""",
    "false-ready-fia": """\
step
vllm_ascend/attention/attention_v1.py|812|forward_impl|attn_output, _ = torch_npu.npu_fused_infer_attention_score(
torch/_ops.py|1243|__call__|return self._op(*args, **kwargs)
RuntimeError: npu_fused_infer_attention_score:build/CMakeFiles/torch_npu.dir/compiler_depend.ts:253 NPU function error: call aclnnFusedInferAttentionScoreV3 failed, error code is 561002
[ERROR] {now} (PID:{pid}, Device:0, RankID:-1) ERR00100 PTA call acl api failed.
EZ9999: Inner Error!
        TraceBack (most recent call last):""",
    "graph-only-mla": """\
step
vllm_ascend/attention/mla_v1.py|1021|_forward_prefill|torch_npu.atb.npu_ring_mla(
torch/_ops.py|1243|__call__|return self._op(*args, **kwargs)
RuntimeError: AtbRingMLAGetWorkspaceSize failed, error code is 561002""",
    "capture-real-crash": "graph-only-mla",
    "vl-dynamo": """\
Traceback (most recent call last):
torch/_dynamo/utils.py|3284|run_node|return node.target(*args, **kwargs)
torch/nn/functional.py|4660|interpolate|return torch._C._nn.upsample_bicubic2d(
RuntimeError: NPU contiguous operator only supported contiguous memory format.

The above exception was the direct cause of the following exception:

step
vllm_ascend/worker/model_runner_v1.py|1275|_execute_mm_encoder|curr_group_outputs = self.model.get_multimodal_embeddings(**mm_kwargs_group)
vllm/model_executor/models/qwen2_5_vl.py|1123|_process_image_input|image_embeds = self.visual(pixel_values, grid_thw=grid_thw_list)
torch/_dynamo/eval_frame.py|929|_fn|return fn(*args, **kwargs)
torch/_dynamo/utils.py|3336|run_node|raise RuntimeError(make_error_message(e)).with_traceback(
torch._dynamo.exc.TorchRuntimeError: Dynamo failed to run FX node with fake tensors: call_function <function interpolate at 0xfffe8c1d3e20>(*(FakeTensor(..., device='npu:0', size=(4, 1280, 16, 16), dtype=torch.bfloat16),), **{'size': (32, 32), 'mode': 'bicubic', 'align_corners': False}): got RuntimeError('NPU contiguous operator only supported contiguous memory format.')""",
}


def fill(template: str, **values: object) -> str:
    """str.format without the braces trouble: the texts quote Python dicts."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    return template


def traceback(name: str, **values: object) -> list[str]:
    out: list[str] = []
    for line in TRACEBACKS[name].splitlines():
        path, line_no, func, code = [*line.split("|", 3), "", "", ""][:4]
        if line in TRACEBACKS:
            out += traceback(line)
        elif line_no.isdigit():
            path = path if path.startswith("/") else f"{SITE}/{path}"
            out += [f'  File "{path}", line {line_no}, in {func}', f"    {code}"]
        else:
            out.append(line)
    now = time.strftime("%Y-%m-%d-%H:%M:%S")
    return fill("\n".join(out), now=now, **values).split("\n")


def bar(desc: str, n: int, total: int, elapsed: float) -> str:
    def clock(seconds: float) -> str:
        return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"

    filled = 10 * n // total
    head = f"{desc}: {100 * n // total:3d}%|{'█' * filled}{' ' * (10 - filled)}| {n}/{total} "
    if n == 0 or elapsed <= 0:
        return head + "[00:00<?, ?it/s]"
    rate = n / elapsed
    return head + f"[{clock(elapsed)}<{clock((total - n) / rate)}, {rate:.2f}it/s]"


def env_on(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def reply(status: int, obj: object = None, kind: str = "BadRequestError") -> Reply:
    """JSON body; a str becomes vLLM's error object."""
    if isinstance(obj, str):
        obj = {"error": {"message": obj, "type": kind, "param": None, "code": status}}
    return status, b"" if obj is None else json.dumps(obj).encode(), None


def check_images(messages: list[Any]) -> tuple[int, str | None]:
    """Count the image parts and check each PNG header, enough for Qwen-VL's too-small error."""
    count = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            count += 1
            ref = part.get("image_url")
            head, _, payload = str(ref.get("url") if isinstance(ref, dict) else ref).partition(",")
            try:
                data = base64.b64decode(payload, validate=True) if head.endswith(";base64") else b""
            except ValueError:
                data = b""
            if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR":
                return count, f"cannot identify image file <_io.BytesIO object at 0x{id(data):x}>"
            width, height = struct.unpack(">II", data[16:24])
            if width < MIN_IMAGE_SIDE or height < MIN_IMAGE_SIDE:
                size = f"height:{height} or width:{width}"
                return count, f"ValueError: {size} must be larger than factor:28"
    return count, None


def parse_serve(argv: list[str]) -> tuple[argparse.Namespace, dict[str, object]]:
    """The flags that matter; any other flag is accepted and shown in `non-default args`."""
    parser = argparse.ArgumentParser(prog="vllm serve", allow_abbrev=False)
    parser.add_argument("model_tag", nargs="?")
    parser.add_argument("--model")
    parser.add_argument("--host", default="127.0.0.1")  # real vLLM: all interfaces
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-model-len", type=int)
    parser.add_argument("--served-model-name")
    parser.add_argument("--limit-mm-per-prompt", type=json.loads)
    parser.add_argument("--enforce-eager", action="store_true")
    args, extra = parser.parse_known_args(argv)
    args.model = args.model or args.model_tag
    if not args.model:
        parser.error("the following arguments are required: model_tag")
    given = {k: v for k, v in vars(args).items() if v != parser.get_default(k)}
    for flag, value in zip(extra, [*extra[1:], "--"], strict=False):
        if flag.startswith("-"):
            given[flag.lstrip("-").replace("-", "_")] = True if value.startswith("-") else value
    return args, given


class Stop(Exception):
    """A stop signal arrived while starting up: unwind to the shutdown output."""


class Log:
    """Whole records under one lock, flushed each time: the runner tails the file live."""

    def __init__(self) -> None:
        self.lock, self.mid_line = threading.Lock(), False
        self.tags = {"api": f"(APIServer pid={os.getpid()}) ", "eng": ""}

    def write(self, text: str, err: bool = False, bar: bool = False) -> None:
        stream = sys.stderr if err else sys.stdout
        with self.lock:
            if self.mid_line and not bar:
                text = "\n" + text  # a record must not glue onto an unfinished progress bar
            self.mid_line = not text.endswith("\n")
            try:
                stream.write(text)
                stream.flush()
            except (OSError, ValueError):
                pass

    def record(self, who: str, first: str, more: tuple[str, ...], level: str) -> None:
        src, _, first = first.partition(" ")  # records start with their `file.py:LINE`
        head = f"{self.tags[who]}{level} {time.strftime('%m-%d %H:%M:%S')} [{src}] "
        self.write("".join(f"{head}{line}\n" for line in (first, *more)))

    def api(self, first: str, *more: str, level: str = "INFO") -> None:
        self.record("api", first, more, level)

    def eng(self, first: str, *more: str, level: str = "INFO") -> None:
        self.record("eng", first, more, level)

    def raw(self, lines: list[str], prefix: str = "") -> None:
        """Uncaught exceptions and uvicorn's lines: stderr, no vLLM level or source."""
        self.write("".join(f"{self.tags['api']}{prefix}{line}\n" for line in lines), err=True)

    def uvicorn(self, *lines: str) -> None:
        self.raw(list(lines), "INFO:     ")

    def engine_dead(self) -> None:
        lines = traceback("dead")
        self.api("async_llm.py:480 AsyncLLM output_handler failed.", *lines, level="ERROR")


class FakeVllm:
    def __init__(self, args: argparse.Namespace, given: dict[str, object]) -> None:
        self.model: str = args.model
        self.host: str = args.host
        self.port: int = args.port
        self.eager: bool = args.enforce_eager
        self.name: str = args.served_model_name or self.model
        self.given = given
        self.dummy = given.get("load_format") == "dummy"  # random weights, nothing read
        name = self.model.rstrip("/").rsplit("/", 1)[-1]
        scenario = name if name in SCENARIOS else os.environ.get("FAKE_VLLM_SCENARIO")
        self.scenario = scenario or "healthy"
        if self.scenario not in SCENARIOS:
            raise ValueError(f"FAKE_VLLM_SCENARIO: unknown scenario {self.scenario!r}")
        self.scale = float(os.environ.get("FAKE_VLLM_TIME_SCALE") or "1")
        default_len = 32768 if self.scenario == "kv-too-small" else 4096
        self.max_len: int = args.max_model_len or default_len
        self.log = Log()
        self.engine: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()
        # Plain flags, not Events: a signal handler must never wait on a lock.
        self.stop_signal = 0
        self.dead = self.exit_requested = self.replayed = False
        # What moves a greedy reply: other numerics, another build, graph-mode drift.
        drift = self.scenario == "graph-drifts" and not self.eager
        salt = [given.get("dtype"), os.environ.get("FAKE_VLLM_REPLY_SALT"), drift or None]
        self.salt = [x for x in salt if x]

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signal = signum

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds * self.scale
        while not self.stop_signal:
            if (left := end - time.monotonic()) <= 0:
                return
            time.sleep(min(left, 0.02))
        raise Stop

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            ignore = env_on(f"FAKE_VLLM_IGNORE_{sig.name}")
            signal.signal(sig, signal.SIG_IGN if ignore else self.on_signal)
        try:
            return self.start()
        except Stop:
            self.log.raw(traceback("stop"))
            self.log.engine_dead()
            return 0
        finally:
            self.reap_engine()

    def start(self) -> int:
        log = self.log
        log.api("__init__.py:43 Available plugins for group vllm.platform_plugins:")
        log.api("__init__.py:45 - ascend -> vllm_ascend:register")
        log.api("__init__.py:217 Platform plugin ascend is activated")
        with socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET) as sock:
            # Bound now but listening only when ready, so probes are refused meanwhile (vllm
            # #8204); no SO_REUSEPORT, so a taken port fails here, as in newer vLLM builds.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.port))
            except OSError as exc:
                log.raw(traceback("bind", errno=exc.errno, strerror=exc.strerror))
                return 1
            self.sleep(0.1)
            banner = fill(BANNER, version=VERSION, model=self.model).splitlines()
            log.api("utils.py:233", *banner)  # the banner opens with an empty line
            log.api(f"utils.py:328 non-default args: {self.given!r}")
            self.sleep(0.2)
            if self.scenario == "arch-unknown":
                log.raw(traceback("arch-unknown", model=self.model))
                return 1
            vl = self.scenario == "vl-dynamo"
            arch = "Qwen2_5_VLForConditionalGeneration" if vl else "LlamaForCausalLM"
            log.api(f"model.py:547 Resolved architecture: {arch}")
            log.api(f"model.py:1510 Using max model len {self.max_len}")
            if self.eager:
                log.api("platform.py:161 Compilation disabled, using eager mode by default")
                log.api("vllm.py:498 Cudagraph is disabled under eager mode")
            self.start_engine()
            if failure := self.init_engine():
                pid, need = self.engine.pid if self.engine else 0, self.max_len * 0.375 / 1024
                lines = traceback(failure, pid=pid, len=self.max_len, need=f"{need:.2f}")
                log.eng("core.py:866 EngineCore failed to start.", *lines, level="ERROR")
                self.reap_engine()  # the real EngineCore exits by itself once it has failed
                log.raw(traceback("wait"))
                return 1
            if vl:
                log.api("api_server.py:1720 Multi-modal warmup completed in 0.500s")
            log.api("api_server.py:1692 Supported tasks: ['generate']")
            return self.serve(sock)

    def start_engine(self) -> None:
        """A real child process in our group that outlives us, as vLLM's EngineCore does."""
        read_fd, write_fd = os.pipe()
        try:
            cmd = [sys.executable, str(Path(__file__).resolve()), "_engine_core", str(write_fd)]
            self.engine = subprocess.Popen(cmd, pass_fds=(write_fd,))
            os.close(write_fd)
            self.log.tags["eng"] = f"(EngineCore_DP0 pid={self.engine.pid}) "
            select.select([read_fd], [], [], 10.0)  # its own line first, as in the real order
        finally:
            os.close(read_fd)

    def init_engine(self) -> str:
        """Log the engine's startup; return the name of the failure, or "" once ready."""
        log, started, scenario = self.log, time.monotonic(), self.scenario
        compilation = COMPILATION[self.eager]
        config = fill(CONFIG, model=self.model, len=self.max_len, eager=self.eager)
        config = fill(config, load="dummy" if self.dummy else "auto")
        config = fill(config, name=self.name, compilation=compilation)
        log.eng(f"core.py:77 Initializing a V1 LLM engine (v0.32.0) with config: {config}")
        self.sleep(0.1)
        ranks = "DP rank 0, PP rank 0, TP rank 0, EP rank 0"
        log.eng(f"parallel_state.py:1208 rank 0 in world size 1 is assigned as {ranks}")
        if scenario == "hccl-bind":
            self.sleep(0.3)
            return scenario
        log.eng(f"model_runner_v1.py:2606 Starting to load model {self.model}...")
        while scenario == "hang":
            self.sleep(1.0)
        if self.dummy:  # vLLM's dummy loader reads nothing and prints no weights line
            self.sleep(0.05)
            log.eng("model_runner_v1.py:2640 Model loading took 0.5 GiB memory and 0.12 seconds")
        else:
            self.sleep(0.5)
            log.eng("default_loader.py:267 Loading weights took 0.98 seconds")
            log.eng("model_runner_v1.py:2640 Model loading took 0.5 GiB memory and 1.2 seconds")
        if not self.eager:
            self.sleep(0.3)
            log.eng("backends.py:559 Dynamo bytecode transform time: 0.42 s")
            self.sleep(0.2)
            log.eng("backends.py:194 Compiling a graph for dynamic shape takes 0.35 s")
            log.eng("monitor.py:34 torch.compile takes 0.77 s in total")
        self.sleep(0.3)
        kv_gib = 0.75 if scenario == "kv-too-small" else 20.5
        log.eng(f"worker.py:300 Available KV cache memory: {kv_gib:.2f} GiB")
        if scenario == "kv-too-small" and self.max_len > 2048:
            return scenario
        tokens = int(kv_gib * 1024 / 0.375)
        log.eng(f"kv_cache_utils.py:1087 GPU KV cache size: {tokens} tokens")
        per_request = f"{self.max_len} tokens per request: {tokens / self.max_len:.2f}x"
        log.eng(f"kv_cache_utils.py:1091 Maximum concurrency for {per_request}")
        if not self.eager:
            capture_started, slow = time.monotonic(), scenario == "slow-capture"
            aiv = os.environ.get("HCCL_OP_EXPANSION_MODE") == "AIV"
            fail = scenario in ("capture-507903", "capture-real-crash") and not aiv
            if not self.capture("mixed prefill-decode, PIECEWISE", 30 if slow else 6, slow, fail):
                return "capture-507903"
            self.capture("decode, FULL", 4, False, False)
            took = f"{time.monotonic() - capture_started:.0f} secs"
            log.eng(f"model_runner_v1.py:4388 Graph capturing finished in {took}, took 0.10 GiB")
        took = f"{time.monotonic() - started:.2f} s"
        log.eng(f"core.py:210 init engine (profile, create kv cache, warmup model) took {took}")
        return ""

    def capture(self, mode: str, steps: int, slow: bool, fail: bool) -> bool:
        desc, started = f"Capturing CUDA graphs ({mode})", time.monotonic()
        self.log.write(self.log.tags["eng"] + bar(desc, 0, steps, 0.0), err=True)
        for n in range(1, steps + 1):
            self.sleep(1.0 if slow else 0.1)
            if fail and n == steps // 2:
                self.log.write("\n", err=True, bar=True)
                return False
            self.log.write("\r" + bar(desc, n, steps, time.monotonic() - started), True, True)
        self.log.write("\n", err=True, bar=True)
        return True

    def serve(self, sock: socket.socket) -> int:
        log, pid, port = self.log, os.getpid(), sock.getsockname()[1]
        url = f"http://[{self.host}]:{port}" if ":" in self.host else f"http://{self.host}:{port}"
        log.api(f"api_server.py:1971 Starting vLLM API server 0 on {url}")
        log.api("launcher.py:37 Available routes are:")
        for route in ROUTES:
            method = "POST" if route.endswith("completions") else "GET"
            log.api(f"launcher.py:45 Route: {route}, Methods: {method}")
        server = AppServer(sock.getsockname()[:2], Handler, bind_and_activate=False)
        server.socket.close()
        server.socket, server.app = sock, self
        log.uvicorn(f"Started server process [{pid}]", "Waiting for application startup.")
        server.server_activate()  # listen() only now: until here connections are refused
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        log.uvicorn("Application startup complete.")
        try:
            while not (self.stop_signal or self.exit_requested):
                time.sleep(0.02)
            log.uvicorn("Shutting down")
            if self.stop_signal:
                log.engine_dead()  # vLLM races like this on a clean stop too; runners must cope
        finally:
            server.shutdown()
            server.server_close()
        done = ["Waiting for application shutdown.", "Application shutdown complete."]
        log.uvicorn(*done, f"Finished server process [{pid}]")
        return 0

    def reap_engine(self) -> None:
        if self.engine is None:
            return
        if self.engine.poll() is None:
            self.engine.terminate()
        try:
            self.engine.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.engine.kill()
            self.engine.wait()

    def route(self, method: str, path: str, body: bytes) -> Reply:
        if method == "GET" and path == "/health":
            return reply(503 if self.dead else 200)
        if method == "GET" and path == "/version":
            return reply(200, {"version": VERSION})
        if method == "GET" and path == "/v1/models":
            card = {"id": self.name, "object": "model", "created": int(time.time())}
            card |= {"owned_by": "vllm", "root": self.model, "parent": None}
            return reply(200, {"object": "list", "data": [card | {"max_model_len": self.max_len}]})
        if method == "POST" and path in ("/v1/chat/completions", "/v1/completions"):
            return self.generate(path == "/v1/chat/completions", body)
        return reply(404, {"detail": "Not Found"})

    def generate(self, chat: bool, body: bytes) -> Reply:
        # A first request that compiles or replays graphs lazily can take minutes.
        time.sleep(float(os.environ.get("FAKE_VLLM_REPLY_DELAY_S") or "0"))
        try:
            req = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return reply(400, f"JSON decode error: {exc}")
        if not isinstance(req, dict):
            return reply(400, "The request body must be a JSON object.")
        if req.get("model") not in (None, self.name):
            message = f"The model `{req['model']}` does not exist."
            info = f"ErrorInfo(message='{message}', type='NotFoundError', param='model', code=404)"
            self.log.api(f"serving.py:412 Error with model error={info}", level="ERROR")
            return reply(404, message, "NotFoundError")
        max_tokens = req.get("max_completion_tokens", req.get("max_tokens", 16))
        if type(max_tokens) is not int or max_tokens < 1:
            return reply(400, f"max_tokens must be at least 1, got {max_tokens}.")
        prompt = req.get("messages" if chat else "prompt")
        if not prompt or not isinstance(prompt, list if chat else (str, list)):
            return reply(400, "`messages` must be a non-empty list" if chat else "Bad `prompt`")
        images, problem = check_images(prompt) if isinstance(prompt, list) else (0, None)
        if problem:
            return reply(400, problem)
        if self.dead or self.crash(images > 0):
            exit_after = None if env_on("VLLM_KEEP_ALIVE_ON_ENGINE_DEATH") else self.request_exit
            return *reply(500, DEAD, "InternalServerError")[:2], exit_after
        with self.lock:
            replay, self.replayed = not self.eager and not self.replayed, True
        if replay:
            self.log.eng("acl_graph.py:180 Replaying aclgraph")
        if shaped := self.odd_reply(chat, prompt, max_tokens):
            return shaped
        return reply(200, self.completion(chat, prompt, max_tokens))

    def odd_reply(self, chat: bool, prompt: object, max_tokens: int) -> Reply | None:
        """The quality scenarios: a 200 whose text (or body) is not an answer."""
        scenario, body = self.scenario, self.completion(chat, prompt, max_tokens)
        choice = cast(dict[str, Any], cast(list[Any], body["choices"])[0])
        usage = cast(dict[str, int], body["usage"])

        def text(value: str, tokens: int, finish: str = "length") -> Reply:
            if chat:
                choice["message"]["content"] = value
            else:
                choice["text"] = value
            choice["finish_reason"], usage["completion_tokens"] = finish, tokens
            return reply(200, body)

        if scenario == "commas" or (scenario == "graph-garbles" and not self.eager):
            mark = "," if scenario == "commas" else "!"  # graph-mode precision: one token looped
            return text(mark * max_tokens, max_tokens)
        if scenario == "special-tokens":
            return text("<|im_start|>assistant\nParis<|im_end|><|endoftext|>", 6, "stop")
        if scenario == "template-echo" and chat:
            turns = [m for m in cast(list[Any], prompt) if isinstance(m, dict)]
            echo = "".join(fill(CHATML, role=m.get("role"), text=m.get("content")) for m in turns)
            return text(echo + "<|im_start|>assistant\n", max_tokens)
        if scenario == "one-token":
            return text("The", 1)
        if scenario == "no-template" and chat:
            return reply(400, NO_TEMPLATE)
        if scenario == "huge-reply":
            return text(", ".join(WORDS) * 20_000, max_tokens)  # about 1.2 MB
        if scenario == "bad-json":
            return 200, b"<html><body>502 Bad Gateway</body></html>", None
        if scenario == "non-utf8":
            raw = text("Paris", 2, "stop")[1]
            return 200, raw.replace(b"Paris", b"Pa\xffris"), None  # not UTF-8 at all
        return None

    def request_exit(self) -> None:
        self.exit_requested = True

    def crash(self, has_image: bool) -> bool:
        """Kill the engine if this scenario's first-request failure applies; say if it did."""
        image_crash = has_image and not env_on("TORCHDYNAMO_DISABLE")
        crashes = {
            "false-ready-fia": True,
            "graph-only-mla": not self.eager,
            "capture-real-crash": not self.eager and not self.dummy,
            "vl-dynamo": image_crash,
        }
        if not crashes.get(self.scenario):
            return False
        with self.lock:
            if self.dead:
                return True
            self.dead = True
        lines = traceback(self.scenario, pid=self.engine.pid if self.engine else 0)
        self.log.eng("core.py:843 EngineCore encountered a fatal error.", *lines, level="ERROR")
        if self.engine is not None and self.engine.poll() is None:
            self.engine.terminate()
        self.log.engine_dead()
        return True

    def completion(self, chat: bool, prompt: object, max_tokens: int) -> dict[str, object]:
        """Greedy-like: the same request always gets the same text, never an empty one."""
        salted = [prompt, max_tokens, *self.salt] if self.salt else [prompt, max_tokens]
        seed = hashlib.sha256(json.dumps(salted, sort_keys=True).encode()).digest()
        n, prompt_tokens = min(max_tokens, 8), max(1, len(json.dumps(prompt)) // 4)
        text = " ".join(WORDS[b % len(WORDS)] for b in seed[:n]).capitalize()
        choice: dict[str, object] = {"index": 0, "logprobs": None}
        choice["finish_reason"] = "length" if n == max_tokens else "stop"
        if chat:
            choice["message"] = {"role": "assistant", "content": text, "tool_calls": []}
        else:
            choice["text"] = " " + text
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n}
        kind = ("chatcmpl", "chat.completion") if chat else ("cmpl", "text_completion")
        head = {"id": f"{kind[0]}-{os.urandom(8).hex()}", "object": kind[1]}
        tail = {"created": int(time.time()), "model": self.name, "choices": [choice]}
        return head | tail | {"usage": usage | {"total_tokens": prompt_tokens + n}}


class AppServer(ThreadingHTTPServer):
    app: FakeVllm


class Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stall
    protocol_version = "HTTP/1.1"
    server_version, sys_version = "uvicorn", ""

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the access line is written after the body, as uvicorn does."""

    def do_GET(self) -> None:
        self.answer("GET")

    def do_POST(self) -> None:
        self.answer("POST")

    def answer(self, method: str) -> None:
        app = cast(AppServer, self.server).app
        after: Callable[[], None] | None = None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True  # the unread body must not be parsed as a request
            status, payload, _ = reply(413 if length > 0 else 400, "Bad or too large body.")
        else:
            path = self.path.partition("?")[0]
            status, payload, after = app.route(method, path, self.rfile.read(length))
        try:
            self.send_response(status)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        client, phrase = self.client_address, self.responses.get(status, ("",))[0]
        line = f'{client[0]}:{client[1]} - "{self.requestline}" {status} {phrase}'
        app.log.write(f"{app.log.tags['api']}INFO:     {line}\n")
        if after is not None:
            after()


def engine_core(ready_fd: int) -> int:
    """The EngineCore child: one line, then idle until signalled (never on its parent's death)."""

    def leave(signum: int, frame: FrameType | None) -> None:
        sys.exit(0)

    for sig in (signal.SIGINT, signal.SIGTERM):  # ignoring too: only SIGKILL empties the group
        signal.signal(sig, signal.SIG_IGN if env_on(f"FAKE_VLLM_IGNORE_{sig.name}") else leave)
    log = Log()
    log.tags["eng"] = f"(EngineCore_DP0 pid={os.getpid()}) "
    log.eng("core.py:1063 Waiting for init message from front-end.")
    os.write(ready_fd, b"1")
    os.close(ready_fd)
    time.sleep(3600)  # a safety net for a leaking runner under test; far beyond any test
    return 0


def main(argv: list[str]) -> int:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="replace")
    if argv[:1] == ["--version"]:
        print(VERSION)
        return 0
    if argv[:1] == ["_engine_core"] and len(argv) == 2:
        return engine_core(int(argv[1]))
    if argv[:1] != ["serve"]:
        sys.stderr.write("usage: vllm [-h] [-v] {chat,complete,serve,bench,collect-env} ...\n")
        sys.stderr.write(f"vllm: error: invalid choice: {' '.join(argv[:1])!r}\n")
        return 2
    try:
        app = FakeVllm(*parse_serve(argv[1:]))
    except ValueError as exc:
        sys.stderr.write(f"usage: vllm serve [model_tag] [options]\nvllm serve: error: {exc}\n")
        return 2
    return app.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
