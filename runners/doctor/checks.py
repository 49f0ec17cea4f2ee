"""Checks of config.json, the model's code and the side files against the flags and the
serving environment. Pure: each takes what was read and returns its findings, or the
reason it could not check (`Result`). The weights' checks are in `weights`.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from runners.doctor import entries
from runners.doctor.checkpoint import Checkpoint
from runners.doctor.findings import Finding
from runners.doctor.flags import Flags
from runners.doctor.probe import Probe
from runners.doctor.remote_code import RemoteCode

Result = tuple[list[Finding], str | None]  # (findings, why it was not checked)
NO_CONFIG = "no readable config.json"
LONG_CONTEXT = 131_072  # a default length this big rarely fits in practice
_VL_MARKERS = ("VL", "Vision", "Llava", "LLaVA", "Omni")
_LENGTH_KEYS = (
    "max_position_embeddings", "n_positions", "max_seq_len", "seq_length",
    "max_sequence_length", "max_seq_length", "seq_len",
)  # fmt: skip
_UNSCALED_ROPE = frozenset({"su", "longrope", "llama3", "mrope", "default"})


def text_config(config: dict[str, Any]) -> dict[str, Any]:
    """The language model's part of a config: VL configs nest it."""
    for key in ("text_config", "llm_config", "language_config"):
        nested = config.get(key)
        if isinstance(nested, dict):
            return {**config, **nested}
    return config


def architectures(config: dict[str, Any] | None) -> list[str]:
    found = (config or {}).get("architectures")
    if not isinstance(found, list):
        return []
    return [a for a in found if isinstance(a, str)][:10]


def is_vl(config: dict[str, Any]) -> bool:
    return "vision_config" in config or any(
        m in a for a in architectures(config) for m in _VL_MARKERS
    )


def int_field(config: dict[str, Any], key: str) -> int | None:
    value = config.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_config(ck: Checkpoint) -> Result:
    if ck.config is None:
        problem = ck.config_problem or "config.json is missing"
        return [Finding(check="config", severity="error", message=problem)], None
    return [], None


def check_files(ck: Checkpoint) -> Result:
    if not ck.refused:
        return [], None
    return [
        Finding(
            check="files",
            severity="warning",
            message=f"{len(ck.refused)} file(s) in the model folder were not read",
            evidence=ck.refused[:10],
        )
    ], None


def check_architecture(ck: Checkpoint, flags: Flags, probe: Probe | None) -> Result:
    if ck.config is None:
        return [], NO_CONFIG
    archs = architectures(ck.config)
    if not archs:
        return [
            Finding(
                check="architecture", severity="error", entry_id=entries.ARCHITECTURE,
                message="config.json names no `architectures`: vLLM cannot pick a model class",
                evidence=(f"config.json architectures: {ck.config.get('architectures')!r}"[:200],),
            )
        ], None  # fmt: skip
    if probe is None:
        return [], "no serving interpreter: give --vllm-cmd"
    if probe.architectures is None:
        return [], probe.problem or "the serving interpreter did not list its architectures"
    if any(a in probe.architectures for a in archs):
        return [], None
    vllm = probe.versions.get("vllm", "?")
    evidence = [
        f"config.json architectures: {json.dumps(archs)}",
        f"vLLM {vllm} ({probe.python}) registers {len(probe.architectures)} architectures",
    ]
    for arch in archs:
        near = difflib.get_close_matches(arch, sorted(probe.architectures), n=3, cutoff=0.7)
        if near:
            evidence.append(f"closest to {arch}: {', '.join(near)}")
    auto_map = ck.config.get("auto_map")
    own_code = isinstance(auto_map, dict) and flags.trust_remote_code
    message = f"{', '.join(archs)} is not registered in the vLLM that will serve it"
    if own_code:  # vLLM then tries its Transformers backend on the model's own code
        message += "; vLLM will try its Transformers backend on the model's code"
    return [
        Finding(
            check="architecture", severity="warning" if own_code else "error",
            entry_id=entries.ARCHITECTURE, message=message, evidence=tuple(evidence),
        )
    ], None  # fmt: skip


def check_remote_code(
    ck: Checkpoint, code: RemoteCode | None, probe: Probe | None, registered: bool
) -> Result:
    """`registered`: vLLM serves the architecture itself, so the model's modeling files are
    not imported (its configuration and tokenizer files still are)."""
    if ck.config is None:
        return [], NO_CONFIG
    if code is None:
        return [], None  # no auto_map: no code of its own
    found: list[Finding] = []
    if code.problems:
        found.append(
            Finding(
                check="remote_code", severity="error", entry_id=entries.REMOTE_CODE,
                message="the model's own code (auto_map) cannot be imported as it stands",
                evidence=code.problems[:10],
            )
        )  # fmt: skip
    if code.elsewhere:
        found.append(
            Finding(
                check="remote_code", severity="warning", entry_id=None,
                message="auto_map takes code from another repository: not checked",
                evidence=code.elsewhere[:5],
            )
        )  # fmt: skip
    if probe is None or not probe.versions.get("transformers"):
        why = "no serving interpreter" if probe is None else probe.problem or "no transformers"
        return found, None if found else f"imports not checked: {why}"
    version = probe.versions["transformers"]
    missing = [i for i in (*code.transformers, *code.packages) if probe.has(i) is False]
    # A modeling file is imported only when vLLM has no implementation of its own.
    fatal = [i for i in missing if not (registered and i.file.startswith("modeling_"))]
    if missing:
        evidence = [
            f"{i.where()}: not in transformers {version}"
            if i.module.startswith("transformers")
            else f"{i.where()}: {i.module.split('.')[0]} is not installed there"
            for i in missing[:10]
        ]
        found.append(
            Finding(
                check="remote_code", severity="error" if fatal else "warning",
                entry_id=entries.REMOTE_CODE,
                message=(
                    f"the model's code imports {len(missing)} name(s) the serving "
                    f"environment lacks (transformers {version})"
                    + ("" if fatal else "; vLLM's own implementation is used instead")
                ),
                evidence=tuple(evidence),
            )
        )  # fmt: skip
    return found, None


def check_heads(ck: Checkpoint, flags: Flags, k_norm: str | None) -> Result:
    """`k_norm`: a k_norm tensor's name when the model has a QK norm (None: none seen)."""
    if ck.config is None:
        return [], NO_CONFIG
    text = text_config(ck.config)
    heads, kv = int_field(text, "num_attention_heads"), int_field(text, "num_key_value_heads")
    hidden, head_dim, tp = int_field(text, "hidden_size"), int_field(text, "head_dim"), flags.tp
    if heads is None or heads <= 0:
        return [], "config.json has no num_attention_heads"

    def finding(message: str, *evidence: str, severity: str = "error") -> Finding:
        return Finding(
            check="heads", severity=severity, entry_id=entries.QK_NORM,  # type: ignore[arg-type]
            message=message, evidence=(*evidence, f"tensor parallel size {tp}"),
        )  # fmt: skip

    found: list[Finding] = []
    if heads % tp:
        found.append(
            finding(
                f"{heads} attention heads do not divide by tensor parallel size {tp}",
                f"config.json num_attention_heads: {heads}",
            )
        )
    if head_dim is None and hidden is not None and hidden % heads:
        found.append(
            finding(
                f"hidden size {hidden} does not divide by {heads} heads (and no head_dim)",
                f"config.json hidden_size: {hidden}",
                f"config.json num_attention_heads: {heads}",
            )
        )
    if kv is None or kv <= 0 or "kv_lora_rank" in text:  # MLA shares one latent KV
        return found, None
    kv_evidence = f"config.json num_key_value_heads: {kv}"
    if tp > kv and tp % kv:
        found.append(
            finding(
                f"{kv} KV heads and tensor parallel size {tp}: neither divides the other",
                kv_evidence,
            )
        )
    elif kv > tp and kv % tp:
        found.append(
            finding(f"{kv} KV heads do not divide by tensor parallel size {tp}", kv_evidence)
        )
    elif tp > kv and k_norm is not None:
        found.append(
            finding(
                f"KV heads are replicated (TP {tp} > {kv} KV heads) in a model with a QK norm: "
                "its k_norm must be sharded for replicated heads",
                kv_evidence,
                f"QK norm: {k_norm}",
            )
        )
    return found, None


def effective_max_len(config: dict[str, Any]) -> tuple[int | None, list[str]]:
    """The longest length vLLM derives from the config (rope scaling applied), and the
    fields it came from."""
    text = text_config(config)
    lengths = {k: v for k in _LENGTH_KEYS if (v := int_field(text, k)) is not None and v > 0}
    if not lengths:
        return None, []
    key = min(lengths, key=lengths.__getitem__)
    derived, evidence = float(lengths[key]), [f"config.json {key}: {lengths[key]}"]
    rope = text.get("rope_scaling") or text.get("rope_parameters")
    if isinstance(rope, dict) and isinstance(rope.get("factor"), int | float):
        kind = str(rope.get("rope_type") or rope.get("type") or "default")
        if kind not in _UNSCALED_ROPE:
            original = rope.get("original_max_position_embeddings")
            if kind == "yarn" and isinstance(original, int):
                derived = float(original)
            derived *= float(rope["factor"])
            evidence.append(f"config.json rope_scaling: {kind}, factor {rope['factor']}")
    return int(derived), evidence


def check_max_len(ck: Checkpoint, flags: Flags) -> Result:
    if ck.config is None:
        return [], NO_CONFIG
    longest, evidence = effective_max_len(ck.config)
    if longest is None:
        return [], "config.json names no maximum length (max_position_embeddings)"
    asked = flags.max_model_len
    if asked is None:
        if longest < LONG_CONTEXT:
            return [], None
        return [
            Finding(
                check="max_model_len", severity="info", entry_id=entries.MAX_LENGTH,
                message=f"no --max-model-len: vLLM will try the config's {longest} tokens, "
                "which may not fit at this TP size",
                evidence=tuple(evidence),
            )
        ], None  # fmt: skip
    if asked <= longest:
        return [], None
    allowed = flags.allow_long_max_len
    return [
        Finding(
            check="max_model_len", severity="warning" if allowed else "error",
            entry_id=entries.MAX_LENGTH,
            message=f"--max-model-len {asked} is above the model's {longest} positions"
            + (" (VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 lets it start)" if allowed else ""),
            evidence=(*evidence, f"--max-model-len {asked}"),
            fallback=None if allowed else f"max-model-len={longest}",
        )
    ], None  # fmt: skip


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.txt", "tiktoken.model")


def has_tokenizer(files: frozenset[str]) -> bool:
    return (
        any(f in files for f in _TOKENIZER_FILES)
        or {"vocab.json", "merges.txt"} <= files
        or any(f.endswith(".tiktoken") for f in files)
    )


def check_tokenizer(ck: Checkpoint, flags: Flags) -> Result:
    if flags.skip_tokenizer_init:
        return [], "--skip-tokenizer-init"
    if has_tokenizer(ck.files):
        return [], None
    files = ck.files
    return [
        Finding(
            check="tokenizer", severity="error",
            message="no tokenizer files (tokenizer.json, tokenizer.model, vocab.json + "
            "merges.txt, *.tiktoken)",
            evidence=(f"files: {', '.join(sorted(files)[:15]) or 'none'}",),
        )
    ], None  # fmt: skip


def check_chat_template(ck: Checkpoint, flags: Flags) -> Result:
    if flags.skip_tokenizer_init:
        return [], "--skip-tokenizer-init"
    if not has_tokenizer(ck.files):
        return [], "no tokenizer"
    template = (ck.tokenizer_config or {}).get("chat_template")
    if template or {"chat_template.jinja", "chat_template.json"} & ck.files:
        return [], None
    return [
        Finding(
            check="chat_template", severity="warning", entry_id=entries.OUTPUT_QUALITY,
            message="no chat template: /v1/chat/completions will fail or answer with "
            "template artifacts",
            evidence=("no chat_template in tokenizer_config.json, no chat_template.jinja",),
        )
    ], None  # fmt: skip


def check_preprocessor(ck: Checkpoint) -> Result:
    if ck.config is None:
        return [], NO_CONFIG
    if not is_vl(ck.config):
        return [], None
    if {"preprocessor_config.json", "processor_config.json"} & ck.files:
        return [], None
    return [
        Finding(
            check="preprocessor", severity="error",
            message="a vision-language model without preprocessor_config.json: its image "
            "processor cannot be built",
            evidence=(f"config.json architectures: {json.dumps(architectures(ck.config))}",),
        )
    ], None  # fmt: skip
