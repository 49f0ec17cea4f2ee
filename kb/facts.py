"""Facts a log shows but no single line says: ready then dead on the first request, a
capture that stops or dies, a reply that is token salad, vLLM imported from the wrong place.

They join what triage searches (`FACT_TEXT`) and are signatures of their own (`@...`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from kb.logtext import LogLine
from kb.roles import FRAME, REQUEST_ERROR, Role

_READY = re.compile(
    r"Application startup complete|Starting vLLM (?:API )?server|Available routes are|"
    r'"GET /v1/models HTTP/1\.\d" 200'
)
_REQUEST_DEATH = re.compile(
    r'"POST /v1/\S{0,100} HTTP/1\.\d" 500\b|"code":\s?500\b.{0,40}$|'
    r"EngineCore encountered an issue|Engine loop is not running|"  # V1, V0 (MQEngineDeadError)
    r"Exception in ASGI application|, in run_asgi\b"  # the server's request handler crashed
)
# Once the server is being stopped, an engine that dies is the stop, not a crash.
_SHUTDOWN = re.compile(
    r"Shutting down|Waiting for application shutdown|\[shutdown\]|"
    r"Received (?:SIGINT|SIGTERM|signal)|Interrupted by user"
)
# argparse refusing the command line: the user's input, whatever words it lists.
_USAGE_ERROR = re.compile(
    r"^[\w./-]{1,80}(?: [\w-]{1,40})?: error: (?:argument |unrecognized arguments|"
    r"the following arguments are required)"
)
_REQUEST_OK = re.compile(r'"POST /v1/(?:chat/)?completions HTTP/1\.\d" 200')
_THROUGHPUT = re.compile(r"Avg prompt throughput|Engine \d+: Avg")
_DEATH = re.compile(
    r"EngineDeadError|EngineCore encountered a fatal error|died unexpectedly|"
    r"Worker failed with error|WorkerProc hit an exception|500 Internal Server Error|"
    r"AsyncLLM output_handler failed|MQLLMEngine is already dead"
)
_CAPTURE = re.compile(
    r"Capturing (?:CUDA|ACL) graphs|Starting to capture ACL graphs|Capturing torchair graph"
)
_CAPTURE_DONE = re.compile(r"Graph capturing finished|Loading torchair graph cache")
# How long startup's graph work took, in whole seconds (vLLM's gpu_model_runner.py,
# compilation/monitor.py and backends.py lines).
_STARTUP_TOOK = re.compile(
    r"Graph capturing finished in (\d+) secs|torch\.compile (?:takes|took) (\d+)(?:\.\d+)? s "
    r"in total|Compiling a graph for [^\n]{1,80}? takes (\d+)(?:\.\d+)? s"
)
_LONG_CAPTURE_S = 300  # on-call hears "is it hung?" well before this; capture can take 20 min

# Serving that long before the engine died is not a first-request crash.
_LONG_SERVING_S = 1800
_FEW_REQUESTS = 3

# A package missing from the environment (torchvision, flash_attn) is the environment's
# problem: not an architecture vLLM does not know, nor transformers drift. vLLM's and
# transformers' own modules are left out: a missing `vllm.model_executor.models.x` is a
# registry mismatch, a missing `transformers.models.x` is drift. A missing
# `transformers_modules.x` is the model's code not found (a dotted directory name, a cache
# without the file): no transformers symbol is at fault, so it counts as missing too.
_MISSING_MODULE = re.compile(r"(?:ModuleNotFoundError|ImportError): No module named '?(\w+)")
_OWN_MODULES = frozenset({"vllm", "vllm_ascend", "transformers"})


# What each fact means, in words a runbook would use: it joins the text that is searched.
FACT_TEXT = {
    "@first-request-crash": (
        "startup succeeded and was ready, then the first request crashed the engine"
    ),
    "@died-after-serving": "the engine died after serving requests for a long time",
    "@capture-in-progress": "startup is still capturing graphs, not ready yet, looks stuck",
    "@capture-died": "a worker died during graph capture at startup, the capture failed",
    "@long-capture": "graph compile or capture took a very long time during startup",
    "@wrong-vllm-imported": "python imports a different vllm than the installed one you edited",
    "@garbled-output": "the server answers but the generated output text is garbled gibberish",
    "@mla-runtime-crash": "an MLA model crashed in its forward pass while running a request",
}

# Models whose attention is MLA: the model types vLLM 0.32.0 treats as DeepSeek-style MLA
# (transformers_utils/model_arch_config_convertor.py, is_deepseek_mla), the names their
# checkpoints go by, and vllm-ascend's MLA backend.
_MLA_MODEL = re.compile(
    r"deepseek[_-]?v(?:2|3|32|4)|deepseek[_-]?r1|deepseek_mtp|kimi[_-]?k[23]|kimi_linear|"
    r"glm4_moe_lite|glm-?4\.7-?flash|glm_moe_dsa|longcat[_-]?flash|pangu_ultra_moe|"
    r"kv_lora_rank|\bmla_attn\b|mla_v1\.py|\bMLA\b",
    re.IGNORECASE,
)
# Frames of a request being run, and frames only startup has (loading, profiling, capture).
_RUNTIME_FRAME = re.compile(
    r"in (?:execute_model|_forward_decode|_forward_prefill|forward_attn\w*|generate|step|"
    r"_model_forward|sample_tokens)\b|self_attn\(|self\.mla_attn\("
)
_STARTUP_FRAME = re.compile(
    r"in (?:load_model|load_weights|profile_run|capture_model|_dummy_run|init_device|"
    r"determine_available_memory|initialize_kv_cache\w*|_initialize_kv_caches|"
    r"compile_or_warm_up_model|__init__)\b"
)
# Frames of a request being served: the V1 engine core's step loop, the model run and
# sampling, the API handler, a graph replay updating its attention parameters. Startup
# runs the model too (the profile run, capture), so a startup frame anywhere vetoes them.
_SERVING_FRAME = re.compile(
    r'engine/core\.py", line \d+, in (?:step|step_with_batch_queue|_process_engine_step)\b|'
    r"in (?:execute_model|sample_tokens|create_chat_completion|create_completion|"
    r"update_attn_params|_update_attn_\w{1,40}_params)\b"
)
# A dataclass's generated `__init__` (`File "<string>"`) runs anywhere: not a startup frame.
_GENERATED_FRAME = 'File "<string>"'


# vLLM says "GPU" on every platform (`GPU KV cache size`, `# GPU blocks`): not a marker.
_CUDA = re.compile(
    r"platform cuda|\bCUDA (?:out of memory|error)|\bcuda(?:Error|Malloc)|torch\.cuda\.|"
    r"compute capability|Current capability: \d|\bNCCL\b|\bnvidia\b",
    re.IGNORECASE,
)
_NPU = re.compile(
    r"\bnpu\b|torch_npu|vllm_ascend|vllm-ascend|Ascend|\bCANN\b|HCCL|aclnn|\bACL\b", re.IGNORECASE
)


def _platform(lines: Sequence[LogLine]) -> set[str]:
    """`@platform-cuda` when the paste is from an NVIDIA GPU and shows nothing of an NPU."""
    cuda = npu = False
    for ln in lines:
        cuda = cuda or bool(_CUDA.search(ln.text))
        npu = npu or bool(_NPU.search(ln.text))
        if npu:
            return set()
    return {"@platform-cuda"} if cuda else set()


_SCRIPTS = ("CJK", "HANGUL", "CYRILLIC", "HEBREW", "ARABIC", "THAI", "HIRAGANA", "KATAKANA",
            "DEVANAGARI", "GREEK", "LATIN")  # fmt: skip
_GARBLED_SCRIPTS = 3  # prose mixes two (Chinese and English); token salad mixes many
_GARBLED_CHARS = 300
_GARBLED_LINES = 2000


def _scripts(text: str) -> set[str]:
    found = set()
    for ch in text[:_GARBLED_CHARS]:
        if ch.isascii():
            if ch.isalpha():
                found.add("LATIN")
        elif ch.isalpha():
            name = unicodedata.name(ch, "")
            found.update(s for s in _SCRIPTS if name.startswith(s))
    return found


def _garbled(lines: Sequence[LogLine], roles: Sequence[Role]) -> bool:
    """Generated text that is token salad: one plain line mixing three or more scripts."""
    checked = 0
    for ln, role in zip(lines, roles, strict=True):
        if role is not Role.CONTEXT or ln.text.isascii():
            continue
        if len(_scripts(ln.text)) >= _GARBLED_SCRIPTS:
            return True
        checked += 1
        if checked >= _GARBLED_LINES:
            break
    return False


# Generated text, where a reply shows it: the content of a JSON reply.
_GENERATED = re.compile(r'"(?:content|text|reasoning_content)":\s?"(?P<text>[^"]{1,2000})')
_DECORATION = frozenset(" \t-=_*#.~+|/\\<>:;'`()[]{}0123456789█─━│┃▏▎▍▌▋▊▉")
_REPEATS = 8  # a unit said this many times in a row is a model stuck, not a sentence
_UNIT = 4  # the longest unit checked, in characters


def _stuck(text: str) -> bool:
    """A short unit said back to back: `!!!!!!!!`, a row of fullwidth commas, `the the the`."""
    text = text[:_GARBLED_CHARS]
    for size in range(1, _UNIT + 1):
        run, i = 1, size
        while i + size <= len(text):
            unit = text[i : i + size]
            if unit == text[i - size : i] and not set(unit) <= _DECORATION:
                run += 1
                if run >= _REPEATS:
                    return True
                i += size
            else:
                run, i = 1, i + 1
    return False


def _degenerate(lines: Sequence[LogLine]) -> bool:
    """A reply whose generated text repeats itself: the model is stuck on a token. Only a
    reply's own text counts: people write `??????` and `!!!!!!!!` in prose too."""
    for ln in lines[:_GARBLED_LINES]:
        if (m := _GENERATED.search(ln.text[:20_000])) and _stuck(m.group("text")):
            return True
    return False


def _missing_package(lines: Sequence[LogLine], roles: Sequence[Role]) -> bool:
    for ln, role in zip(lines, roles, strict=True):
        m = _MISSING_MODULE.search(ln.text) if role is Role.CAUSE else None
        if m and m.group(1) not in _OWN_MODULES:
            return True
    return False


_REMOTE_CODE = re.compile(r"transformers_modules|trust[_-]remote[_-]code|/modeling_\w+\.py")


def import_origin(where: str, lines: Sequence[LogLine]) -> str:
    """Whose import of a transformers name failed: vLLM's, a model's, or the paste can't say.

    A bare `cannot import name X from transformers` is as often vLLM's own import on an old
    transformers (upgrade it) as a model's remote code on a new one (do not upgrade it)."""
    if where.startswith("vllm"):
        return "@import-in-vllm"
    if where or any(_REMOTE_CODE.search(ln.text) for ln in lines):
        return "@import-elsewhere"
    return "@import-no-origin"


# vLLM failing to import itself: the `vllm` Python found is not the built install (a source
# tree without its compiled parts, a namespace dir, a second copy earlier on the path).
_SELF_IMPORT = re.compile(
    r"from '(?:vllm|vllm_ascend)' \(unknown location\)|No module named '?vllm\._version|"
    r"^\s*(?:ModuleNotFoundError|ImportError): No module named '?vllm\.(?!model_executor\.models)"
)


def _imports_wrong_vllm(lines: Sequence[LogLine]) -> bool:
    """Whether the paste shows vLLM imported from somewhere other than its install."""
    roots = set()
    for ln in lines:
        if _SELF_IMPORT.search(ln.text):
            return True
        frame = FRAME.match(ln.text)
        path = frame.group("path") if frame else ""
        if path.endswith(".py") and (at := path.find("/vllm/")) >= 0:
            roots.add(path[:at])
    return len(roots) >= 2  # two copies of vllm in one traceback: one shadows the other


def _mla_runtime_crash(lines: Sequence[LogLine], roles: Sequence[Role]) -> bool:
    """An MLA model's traceback through a request's forward pass, and none of startup's."""
    frames = [ln.text[:2000] for ln, role in zip(lines, roles, strict=True) if role is Role.FRAME]
    return (
        any(_RUNTIME_FRAME.search(f) for f in frames)
        and not any(_STARTUP_FRAME.search(f) for f in frames)
        and any(_MLA_MODEL.search(ln.text[:2000]) for ln in lines)
    )


def _serving_crash(lines: Sequence[LogLine], roles: Sequence[Role]) -> bool:
    """A traceback through a served request's frames, and none of startup's."""
    frames = [ln.text[:2000] for ln, role in zip(lines, roles, strict=True) if role is Role.FRAME]
    return any(_SERVING_FRAME.search(f) for f in frames) and not any(
        _STARTUP_FRAME.search(f) and _GENERATED_FRAME not in f for f in frames
    )


def log_facts(lines: Sequence[LogLine], roles: Sequence[Role]) -> set[str]:
    """Every fact of the log but whose import failed (that needs the frame above the cause)."""
    facts: set[str] = set()
    ready = next((i for i, ln in enumerate(lines) if _READY.search(ln.text)), None)
    stop = next(
        (
            i
            for i, ln in enumerate(lines)
            if (ready is None or i > ready) and _SHUTDOWN.search(ln.text)
        ),
        len(lines),
    )
    if ready is None and any(_REQUEST_DEATH.search(ln.text) for ln in lines):
        # A request got a 500 from a dead engine: the server was up, but which request it
        # was the paste does not say.
        facts.add("@crash-on-request")
    death = next(
        (
            i
            for i, ln in enumerate(lines)
            if (ready is None or i > ready) and i < stop and _DEATH.search(ln.text)
        ),
        None,
    )
    if ready is not None and death is not None:
        between = lines[ready:death]
        served = sum(1 for ln in between if _REQUEST_OK.search(ln.text))
        busy = sum(1 for ln in between if _THROUGHPUT.search(ln.text))
        t0, t1 = lines[ready].seconds, lines[death].seconds
        long_gap = t0 is not None and t1 is not None and t1 - t0 > _LONG_SERVING_S
        if served <= _FEW_REQUESTS and busy <= _FEW_REQUESTS and not long_gap:
            facts.add("@first-request-crash")
        else:
            facts.add("@died-after-serving")
    if ready is None and "@crash-on-request" not in facts and _serving_crash(lines, roles):
        facts.add("@crash-on-request")
    if death is None and any(REQUEST_ERROR.search(ln.text) for ln in lines):
        facts.add("@request-error")
    if any(_USAGE_ERROR.match(ln.text) for ln in lines):
        facts.add("@usage-error")
    captures = [i for i, ln in enumerate(lines) if _CAPTURE.search(ln.text)]
    if captures:
        last = captures[-1]
        after = range(last + 1, len(lines))
        done = any(
            _CAPTURE_DONE.search(lines[i].text) or _READY.search(lines[i].text) for i in after
        )
        failed = any(roles[i] >= Role.WEAK for i in range(len(lines)))
        # A worker that died mid-capture, its error cut from the paste, is a capture that
        # failed, not one that looks stuck.
        died = any(_DEATH.search(lines[i].text) or roles[i] is Role.FRAME for i in after)
        if not done and not failed:
            facts.add("@capture-died" if died else "@capture-in-progress")
    took = [
        int(next(g for g in m.groups() if g))
        for ln in lines
        if (m := _STARTUP_TOOK.search(ln.text))
    ]
    if took and max(took) >= _LONG_CAPTURE_S and not any(r >= Role.WEAK for r in roles):
        facts.add("@long-capture")
    if any("transformers_modules" in ln.text for ln in lines):
        facts.add("@remote-code-module")
    facts |= _platform(lines)
    if _garbled(lines, roles) or _degenerate(lines):
        facts.add("@garbled-output")
    if _missing_package(lines, roles):
        facts.add("@missing-package")
    if _imports_wrong_vllm(lines):
        facts.add("@wrong-vllm-imported")
    if _mla_runtime_crash(lines, roles):
        facts.add("@mla-runtime-crash")
    return facts
