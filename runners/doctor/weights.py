"""Checks of the weights as their headers declare them: the index against the shards, fp8
weights against their scales, MTP layers against the config and the flags, key prefixes
against the architecture's family. Pure, like `checks`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from runners.doctor import entries
from runners.doctor.checkpoint import F8_DTYPES, INDEX_NAME, Checkpoint, Tensor
from runners.doctor.checks import (
    NO_CONFIG,
    Result,
    architectures,
    int_field,
    is_vl,
    text_config,
)
from runners.doctor.findings import Finding
from runners.doctor.flags import Flags

SHOWN = 8  # names listed as evidence; the count says how many there are
DUMMY = "--load-format dummy: the weights are not read"
SCALE_SUFFIXES = ("_scale_inv", "_scale")
_FLOATS = frozenset({"BF16", "F16", "F32"})
_LAYER = re.compile(r"(?:model\.)?(?:language_model\.)?(?:model\.)?layers\.(\d{1,6})\.")
_MTP_KEY = re.compile(r"(^|\.)(mtp|nextn)[._]|\.(eh_proj|enorm|hnorm|shared_head)\.")
_VISION = ("visual.", "vision_tower.", "vision_model.", "vision_encoder.", "vpm.", "vit.")
_WRAPPED_LM = ("language_model.", "model.language_model.")
_MOE_KEYS = ("n_routed_experts", "num_experts", "num_local_experts", "moe_num_experts")


def _names(names: Iterable[str], total: int | None = None) -> tuple[str, ...]:
    shown = sorted(names)
    count = len(shown) if total is None else total
    more = f" ... and {count - SHOWN} more" if count > SHOWN else ""
    return (*shown[:SHOWN], *((more.strip(),) if more else ()))


def check_index(ck: Checkpoint) -> Result:
    if not ck.weights_read:
        return [], DUMMY
    found: list[Finding] = []
    if ck.index_problem:
        found.append(Finding(check="index", severity="error", message=ck.index_problem))
    if not ck.shards and not ck.missing_shards:
        if any(f.endswith((".bin", ".pt", ".pth")) for f in ck.files):
            return found, "PyTorch weight files: their headers are not read"
        found.append(
            Finding(
                check="index", severity="error",
                message="no weights: no *.safetensors file and no index",
                evidence=(f"files: {', '.join(sorted(ck.files)[:15]) or 'none'}",),
            )
        )  # fmt: skip
        return found, None
    if ck.missing_shards:
        lost = [t for t, s in (ck.index or {}).items() if s in ck.missing_shards]
        found.append(
            Finding(
                check="index", severity="error", entry_id=entries.WEIGHT_KEYS,
                message=f"{len(ck.missing_shards)} shard file(s) the index names are missing "
                f"({len(lost)} tensors)",
                evidence=_names(ck.missing_shards),
            )
        )  # fmt: skip
    broken = [s for s in ck.shards.values() if s.problem]
    if broken:
        found.append(
            Finding(
                check="index", severity="error",
                message=f"{len(broken)} shard header(s) cannot be read",
                evidence=tuple(s.problem or "" for s in broken[:SHOWN]),
            )
        )  # fmt: skip
    if ck.index is not None:
        absent = [
            f"{t} (in {s})"
            for t, s in ck.index.items()
            if s in ck.shards and not ck.shards[s].problem and t not in ck.shards[s].tensors
        ]
        if absent:
            found.append(
                Finding(
                    check="index", severity="error", entry_id=entries.WEIGHT_KEYS,
                    message=f"{len(absent)} indexed tensor(s) are not in their shard's header",
                    evidence=_names(absent),
                )
            )  # fmt: skip
        unindexed = sorted(set(ck.shards) - set(ck.index.values()))
        if unindexed:  # vLLM loads only the files the index names
            found.append(
                Finding(
                    check="index", severity="warning", entry_id=entries.WEIGHT_KEYS,
                    message=f"{len(unindexed)} shard file(s) are not in {INDEX_NAME}: "
                    "vLLM skips their tensors",
                    evidence=_names(unindexed),
                )
            )  # fmt: skip
    return found, None


def _scale_of(weight: str, tensors: dict[str, Tensor]) -> str | None:
    return next((weight + s for s in SCALE_SUFFIXES if weight + s in tensors), None)


def check_fp8(ck: Checkpoint) -> Result:
    quant = (ck.config or {}).get("quantization_config")
    method = quant.get("quant_method") if isinstance(quant, dict) else None
    if not ck.weights_read:
        if method != "fp8":
            return [], DUMMY
        return [_fp8_warning("config.json quantization_config: quant_method fp8")], None
    tensors = ck.tensors()
    fp8 = {n for n, t in tensors.items() if t.dtype in F8_DTYPES}
    if not fp8:
        return [], None
    unpaired = sorted(n for n in fp8 if _scale_of(n, tensors) is None)
    orphans = []
    for name, tensor in tensors.items():
        suffix = next((s for s in SCALE_SUFFIXES if name.endswith(".weight" + s)), None)
        if suffix is None or tensor.dtype in F8_DTYPES:
            continue
        weight = name[: -len(suffix)]
        if weight not in tensors:
            orphans.append(f"{name} (no {weight})")
        elif tensors[weight].dtype in _FLOATS:  # dequantized already: scaled twice
            orphans.append(f"{name} (its weight is {tensors[weight].dtype})")
    if not unpaired and not orphans:
        return [_fp8_warning(f"{len(fp8)} fp8 tensors, each with its scale")], None
    evidence = [f"fp8 weight without a scale: {n}" for n in unpaired[:SHOWN]]
    evidence += [f"scale without an fp8 weight: {n}" for n in sorted(orphans)[:SHOWN]]
    return [
        Finding(
            check="fp8", severity="error", entry_id=entries.FP8,
            message=f"fp8 weights and scales do not pair: {len(unpaired)} weight(s) without "
            f"a scale, {len(orphans)} scale(s) without an fp8 weight; dequantizing to bf16 "
            "would corrupt them silently",
            evidence=tuple(evidence),
        )
    ], None  # fmt: skip


def _fp8_warning(evidence: str) -> Finding:
    return Finding(
        check="fp8", severity="warning", entry_id=entries.FP8,
        message="fp8 checkpoint: on Ascend A2/A3 dequantize it to bf16 at load "
        "(weight + scale), do not force fp8 kernels",
        evidence=(evidence,),
    )  # fmt: skip


def _mtp_layers(config: dict[str, object]) -> int:
    text = text_config(dict(config))
    for key in ("num_nextn_predict_layers", "mtp_num_hidden_layers", "num_mtp_layers"):
        value = int_field(text, key)
        if value:
            return value
    return 0


def _mtp_keys(tensors: Iterable[str], layers: int | None) -> list[str]:
    found = []
    for name in tensors:
        layer = _LAYER.match(name)
        beyond = layers is not None and layer is not None and int(layer.group(1)) >= layers
        if beyond or _MTP_KEY.search(name):
            found.append(name)
    return found


def check_mtp(ck: Checkpoint, flags: Flags) -> Result:
    if ck.config is None:
        return [], NO_CONFIG
    text = text_config(ck.config)
    declared = _mtp_layers(ck.config)
    found: list[Finding] = []

    def finding(severity: str, message: str, *evidence: str) -> None:
        found.append(
            Finding(
                check="mtp", severity=severity, entry_id=entries.MTP,  # type: ignore[arg-type]
                message=message, evidence=evidence,
            )
        )  # fmt: skip

    config_says = f"config.json num_nextn_predict_layers: {declared}"
    if flags.flashcomm1 and not any(int_field(text, k) for k in _MOE_KEYS):
        finding("warning", "flashcomm1 is for MoE models; this one has no experts: "
                "not applicable", "VLLM_ASCEND_ENABLE_FLASHCOMM1=1")  # fmt: skip
    if flags.mtp and not declared:
        finding("error", "MTP speculative decoding asked for, but the config declares no MTP "
                "layers: unsupported for this checkpoint", config_says,
                f"--speculative-config method {flags.speculative_method}")  # fmt: skip
    if not ck.weights_read:
        return found, None
    keys = _mtp_keys(ck.tensors(), int_field(text, "num_hidden_layers"))
    if declared and not keys:
        severity = "error" if flags.mtp else "warning"
        finding(severity, f"the config declares {declared} MTP layer(s) but the weights hold "
                "none (mtp / nextn keys): checkpoint-missing, MTP would have no effect",
                config_says)  # fmt: skip
    elif keys and not declared:
        finding("warning", f"the weights hold {len(keys)} MTP tensor(s) the config does not "
                "declare (num_nextn_predict_layers)", *_names(keys))  # fmt: skip
    return found, None


def _prefixes(names: Iterable[str]) -> list[str]:
    counts = Counter(".".join(n.split(".")[:2]) for n in names)
    return [f"{p}.*: {c} tensors" for p, c in counts.most_common(5)]


def check_key_prefixes(ck: Checkpoint) -> Result:
    if ck.config is None:
        return [], NO_CONFIG
    if not ck.weights_read:
        return [], DUMMY
    tensors = ck.tensors()
    if not tensors:
        return [], "no readable weights"
    vision = [n for n in tensors if n.removeprefix("model.").startswith(_VISION)]
    wrapped = [n for n in tensors if n.startswith(_WRAPPED_LM)]
    archs = ", ".join(architectures(ck.config)) or "?"
    if is_vl(ck.config):
        if vision:
            return [], None
        message = f"{archs} is a vision-language architecture, but no weight is a vision tower's"
    elif vision or wrapped:
        message = f"{archs} is a text architecture, but the weights are a VL checkpoint's"
    else:
        return [], None
    return [
        Finding(
            check="key_prefixes", severity="error", entry_id=entries.WEIGHT_KEYS,
            message=message, evidence=tuple(_prefixes(tensors)),
        )
    ], None  # fmt: skip


def k_norm_tensor(ck: Checkpoint) -> str | None:
    """A k_norm weight's name, when the model has a QK norm."""
    return next((n for n in sorted(ck.tensors()) if ".k_norm." in n), None)
