"""One examination: read the folder, ask the serving interpreter, run every check, in the
order a person reads them (config first, weights last)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from runners.doctor import checks, weights
from runners.doctor.checkpoint import ModelFolder, read_checkpoint
from runners.doctor.findings import Checked, DoctorReport, Finding, outcome
from runners.doctor.flags import read_flags
from runners.doctor.probe import PROBE_TIMEOUT_S, Probe, ask, find_interpreter
from runners.doctor.remote_code import Import, read_remote_code

CHECKS = (
    "config", "files", "architecture", "remote_code", "heads", "max_model_len", "tokenizer",
    "chat_template", "preprocessor", "index", "fp8", "mtp", "key_prefixes",
)  # fmt: skip


def diagnose(
    model_dir: str,
    *,
    tp: int | None = None,
    max_model_len: int | None = None,
    serve_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    vllm_cmd: tuple[str, ...] | None = ("vllm",),
    roots: tuple[str, ...] = (),
    probe_timeout_s: float = PROBE_TIMEOUT_S,
) -> DoctorReport:
    """Examine the checkpoint in `model_dir` for a launch with these flags. `vllm_cmd`
    None: no serving interpreter is asked (its checks say "not checked").

    Raises ModelDirError (no such folder, outside `roots`), ServeArgsError."""
    flags = read_flags(serve_args, env, tp, max_model_len)
    folder = ModelFolder(model_dir, roots)
    ck = read_checkpoint(folder, weights=not flags.dummy_weights)
    auto_map = (ck.config or {}).get("auto_map")
    code = read_remote_code(folder, auto_map) if auto_map else None
    python = find_interpreter(vllm_cmd) if vllm_cmd else None
    imports = (*code.transformers, *code.packages) if code else ()
    probe = _probe(python, imports, probe_timeout_s) if python else None
    archs = checks.architectures(ck.config)
    registered = bool(probe and probe.architectures and set(archs) & probe.architectures)
    results = {
        "config": checks.check_config(ck),
        "files": checks.check_files(ck),
        "architecture": checks.check_architecture(ck, flags, probe),
        "remote_code": checks.check_remote_code(ck, code, probe, registered),
        "heads": checks.check_heads(ck, flags, weights.k_norm_tensor(ck)),
        "max_model_len": checks.check_max_len(ck, flags),
        "tokenizer": checks.check_tokenizer(ck, flags),
        "chat_template": checks.check_chat_template(ck, flags),
        "preprocessor": checks.check_preprocessor(ck),
        "index": weights.check_index(ck),
        "fp8": weights.check_fp8(ck),
        "mtp": weights.check_mtp(ck, flags),
        "key_prefixes": weights.check_key_prefixes(ck),
    }
    findings: list[Finding] = [f for name in CHECKS for f in results[name][0]]
    checked: list[Checked] = [outcome(name, findings, results[name][1]) for name in CHECKS]
    versions = dict(probe.versions) if probe else {}
    if probe:
        versions["interpreter"] = probe.python
    return DoctorReport(
        model_dir=str(ck.root), findings=tuple(findings), checked=tuple(checked), probe=versions
    )


@lru_cache(maxsize=32)
def _probe(python: str, imports: tuple[Import, ...], timeout_s: float) -> Probe:
    # An agent examines before every launch: its interpreter is asked once per question.
    return ask(python, imports, timeout_s)
