"""One tiny checkpoint per defect: the doctor names exactly that defect and the runbook
entry a launch would end in; a healthy checkpoint gets no finding at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from runners.doctor import DoctorReport, Finding, diagnose
from runners.doctor import entries as E
from tests.doctor.conftest import (
    edit_config,
    fake_vllm,
    fp8,
    llama_tensors,
    make_checkpoint,
)


def examine(path: Path, **options: Any) -> DoctorReport:
    options.setdefault("vllm_cmd", None)
    return diagnose(str(path), **options)


def only(report: DoctorReport) -> Finding:
    assert len(report.findings) == 1, report.findings
    return report.findings[0]


def outcome(report: DoctorReport, check: str) -> str:
    return next(c.outcome for c in report.checked if c.check == check)


def test_a_healthy_checkpoint_gets_no_finding(healthy: Path, tmp_path: Path) -> None:
    report = examine(healthy, vllm_cmd=fake_vllm(tmp_path))
    assert report.ok and report.findings == ()
    assert {c.outcome for c in report.checked} == {"passed"}
    assert report.probe["vllm"] == "0.11.0"


def test_without_a_serving_interpreter_the_architecture_is_not_checked(healthy: Path) -> None:
    report = examine(healthy, vllm_cmd=("/nowhere/vllm",))
    assert report.findings == ()
    assert outcome(report, "architecture") == "not checked"


def test_an_architecture_the_serving_vllm_does_not_register(healthy: Path, tmp_path: Path) -> None:
    edit_config(healthy, architectures=["LlamaForCausalLMv2"])
    found = only(examine(healthy, vllm_cmd=fake_vllm(tmp_path)))
    assert (found.check, found.severity, found.entry_id) == (
        "architecture",
        "error",
        E.ARCHITECTURE,
    )
    assert 'config.json architectures: ["LlamaForCausalLMv2"]' in found.evidence
    assert any("LlamaForCausalLM" in e and "closest" in e for e in found.evidence)


def test_a_config_without_architectures(healthy: Path) -> None:
    edit_config(healthy, architectures=None)
    found = only(examine(healthy))
    assert (found.check, found.entry_id) == ("architecture", E.ARCHITECTURE)


def test_a_config_that_is_not_json_stops_the_config_checks(healthy: Path) -> None:
    (healthy / "config.json").write_text("{'architectures': nope")
    found = only(examine(healthy))
    assert (found.check, found.severity, found.entry_id) == ("config", "error", None)
    assert "config.json is not JSON" in found.message
    assert outcome(examine(healthy), "heads") == "not checked"


def test_a_missing_config(healthy: Path) -> None:
    (healthy / "config.json").unlink()
    assert only(examine(healthy)).message == "config.json is missing"


def _remote_code(root: Path, source: str) -> None:
    edit_config(root, auto_map={"AutoConfig": "configuration_tiny.TinyConfig"})
    (root / "configuration_tiny.py").write_text(source)


def test_remote_code_importing_a_name_the_serving_transformers_lacks(
    healthy: Path, tmp_path: Path
) -> None:
    _remote_code(
        healthy,
        "from transformers import PretrainedConfig\n"
        "from transformers.utils import NoSuchHelper\n"
        "try:\n    from transformers import Optional\nexcept ImportError:\n    Optional = None\n",
    )
    vllm = fake_vllm(tmp_path, missing_names=("transformers.utils:NoSuchHelper",))
    found = only(examine(healthy, vllm_cmd=vllm))
    assert (found.check, found.severity, found.entry_id) == ("remote_code", "error", E.REMOTE_CODE)
    assert found.evidence == (
        "configuration_tiny.py:2: from transformers.utils import NoSuchHelper: "
        "not in transformers 4.57.1",
    )


def test_remote_code_whose_module_file_is_missing(healthy: Path) -> None:
    _remote_code(healthy, "from .tiny_helpers import x\n")
    found = only(examine(healthy))
    assert (found.check, found.entry_id) == ("remote_code", E.REMOTE_CODE)
    assert "tiny_helpers.py is missing" in found.evidence[0]


def test_heads_that_do_not_divide_by_tp(healthy: Path) -> None:
    report = examine(healthy, tp=3)
    assert [(f.check, f.severity, f.entry_id, f.message) for f in report.findings] == [
        ("heads", "error", E.QK_NORM, "4 attention heads do not divide by tensor parallel size 3"),
        (
            "heads",
            "error",
            E.QK_NORM,
            "2 KV heads and tensor parallel size 3: neither divides the other",
        ),
    ]
    assert "config.json num_attention_heads: 4" in report.findings[0].evidence


def test_heads_divisible_by_tp_pass(healthy: Path) -> None:
    assert examine(healthy, tp=2).findings == ()
    assert examine(healthy, serve_args=("-tp", "4")).findings == ()  # 2 KV heads replicated


def test_hidden_size_not_divisible_by_heads(healthy: Path) -> None:
    edit_config(healthy, hidden_size=66)
    found = only(examine(healthy))
    assert (found.check, found.entry_id) == ("heads", E.QK_NORM)
    assert "hidden size 66" in found.message


def test_replicated_kv_heads_in_a_model_with_a_qk_norm(tmp_path: Path) -> None:
    tensors = llama_tensors()
    tensors["model.layers.0.self_attn.k_norm.weight"] = torch.ones(8, dtype=torch.bfloat16)
    root = make_checkpoint(tmp_path / "qk", tensors=tensors)
    assert examine(root, tp=2).findings == ()
    found = only(examine(root, tp=4))
    assert (found.check, found.severity, found.entry_id) == ("heads", "error", E.QK_NORM)
    assert "replicated" in found.message
    assert "QK norm: model.layers.0.self_attn.k_norm.weight" in found.evidence


def test_an_index_naming_shards_that_are_not_there(healthy: Path) -> None:
    (healthy / "model-00002-of-00002.safetensors").unlink()
    found = only(examine(healthy))
    assert (found.check, found.severity, found.entry_id) == ("index", "error", E.WEIGHT_KEYS)
    assert found.evidence == ("model-00002-of-00002.safetensors",)


def test_an_indexed_tensor_absent_from_its_shard(healthy: Path) -> None:
    index = json.loads((healthy / "model.safetensors.index.json").read_text())
    index["weight_map"]["model.layers.9.mlp.up_proj.weight"] = "model-00001-of-00002.safetensors"
    (healthy / "model.safetensors.index.json").write_text(json.dumps(index))
    found = only(examine(healthy))
    assert (found.check, found.entry_id) == ("index", E.WEIGHT_KEYS)
    assert found.evidence == (
        "model.layers.9.mlp.up_proj.weight (in model-00001-of-00002.safetensors)",
    )


def _fp8_tensors(scales: bool = True) -> dict[str, torch.Tensor]:
    tensors = llama_tensors()
    for i in range(2):
        name = f"model.layers.{i}.self_attn.q_proj.weight"
        tensors[name] = fp8()
        if scales:
            tensors[name + "_scale_inv"] = torch.ones(1, 1)
    return tensors


def test_fp8_weights_each_with_a_scale_warn_to_dequantize(tmp_path: Path) -> None:
    found = only(examine(make_checkpoint(tmp_path / "fp8", tensors=_fp8_tensors())))
    assert (found.check, found.severity, found.entry_id) == ("fp8", "warning", E.FP8)
    assert "dequantize it to bf16" in found.message


def test_fp8_weights_without_their_scales(tmp_path: Path) -> None:
    tensors = _fp8_tensors()
    del tensors["model.layers.1.self_attn.q_proj.weight_scale_inv"]
    found = only(examine(make_checkpoint(tmp_path / "fp8", tensors=tensors)))
    assert (found.check, found.severity, found.entry_id) == ("fp8", "error", E.FP8)
    assert found.evidence == ("fp8 weight without a scale: model.layers.1.self_attn.q_proj.weight",)


def test_an_orphan_scale_next_to_a_bf16_weight(tmp_path: Path) -> None:
    tensors = _fp8_tensors()
    tensors["model.layers.0.mlp.down_proj.weight_scale"] = torch.ones(1, 1)
    found = only(examine(make_checkpoint(tmp_path / "fp8", tensors=tensors)))
    assert (found.check, found.severity, found.entry_id) == ("fp8", "error", E.FP8)
    assert found.evidence == (
        "scale without an fp8 weight: model.layers.0.mlp.down_proj.weight_scale "
        "(its weight is BF16)",
    )


def test_mtp_asked_for_but_the_checkpoint_lacks_its_layers(healthy: Path) -> None:
    edit_config(healthy, num_nextn_predict_layers=1)
    spec = ("--speculative-config", '{"method": "deepseek_mtp", "num_speculative_tokens": 1}')
    found = only(examine(healthy, serve_args=spec))
    assert (found.check, found.severity, found.entry_id) == ("mtp", "error", E.MTP)
    assert "checkpoint-missing" in found.message
    # Not asked for: a warning that MTP would do nothing.
    assert only(examine(healthy)).severity == "warning"


def test_mtp_asked_for_a_model_without_mtp(healthy: Path) -> None:
    found = only(examine(healthy, serve_args=('--speculative-config={"method": "mtp"}',)))
    assert (found.check, found.severity, found.entry_id) == ("mtp", "error", E.MTP)
    assert "declares no MTP layers" in found.message


def test_mtp_layers_present_and_declared_pass(tmp_path: Path) -> None:
    tensors = llama_tensors(layers=3)  # layer 2 is the MTP layer of a 2-layer model
    tensors["model.layers.2.eh_proj.weight"] = torch.zeros(8, 16, dtype=torch.bfloat16)
    root = make_checkpoint(tmp_path / "mtp", tensors=tensors)
    edit_config(root, num_nextn_predict_layers=1)
    spec = ("--speculative-config", '{"method": "mtp", "num_speculative_tokens": 1}')
    assert examine(root, serve_args=spec).findings == ()


def test_a_vl_checkpoint_under_a_text_architecture(tmp_path: Path) -> None:
    tensors = llama_tensors(prefix="language_model.model.")
    tensors["visual.blocks.0.attn.qkv.weight"] = torch.zeros(8, 8, dtype=torch.bfloat16)
    found = only(examine(make_checkpoint(tmp_path / "vl", tensors=tensors)))
    assert (found.check, found.severity, found.entry_id) == ("key_prefixes", "error", E.WEIGHT_KEYS)
    assert "language_model.model.*: 8 tensors" in found.evidence


def test_a_text_checkpoint_under_a_vl_architecture(healthy: Path) -> None:
    edit_config(healthy, architectures=["Qwen2VLForConditionalGeneration"], vision_config={})
    (healthy / "preprocessor_config.json").write_text("{}")
    found = only(examine(healthy))
    assert (found.check, found.entry_id) == ("key_prefixes", E.WEIGHT_KEYS)
    assert "no weight is a vision tower's" in found.message


def test_a_vl_architecture_without_a_preprocessor_config(tmp_path: Path) -> None:
    tensors = llama_tensors()
    tensors["visual.patch_embed.proj.weight"] = torch.zeros(8, 8, dtype=torch.bfloat16)
    root = make_checkpoint(tmp_path / "vl", tensors=tensors)
    edit_config(root, architectures=["Qwen2VLForConditionalGeneration"], vision_config={})
    found = only(examine(root))
    assert (found.check, found.severity, found.entry_id) == ("preprocessor", "error", None)


def test_max_model_len_beyond_the_positions(healthy: Path) -> None:
    found = only(examine(healthy, max_model_len=4096))
    assert (found.check, found.severity, found.entry_id) == ("max_model_len", "error", E.MAX_LENGTH)
    assert found.evidence == ("config.json max_position_embeddings: 2048", "--max-model-len 4096")
    assert examine(healthy, max_model_len=2048).findings == ()
    allowed = examine(healthy, max_model_len=4096, env={"VLLM_ALLOW_LONG_MAX_MODEL_LEN": "1"})
    assert only(allowed).severity == "warning"


def test_rope_scaling_extends_the_positions(healthy: Path) -> None:
    edit_config(healthy, rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                       "original_max_position_embeddings": 1024})  # fmt: skip
    assert examine(healthy, max_model_len=4096).findings == ()
    assert only(examine(healthy, serve_args=("--max-model-len", "4097"))).entry_id == E.MAX_LENGTH


def test_no_tokenizer_files(tmp_path: Path) -> None:
    found = only(examine(make_checkpoint(tmp_path / "m", tokenizer=False)))
    assert (found.check, found.severity) == ("tokenizer", "error")


def test_no_chat_template(tmp_path: Path) -> None:
    found = only(examine(make_checkpoint(tmp_path / "m", chat_template=False)))
    assert (found.check, found.severity, found.entry_id) == (
        "chat_template", "warning", E.OUTPUT_QUALITY,
    )  # fmt: skip


def test_dummy_weights_are_not_read(tmp_path: Path) -> None:
    root = make_checkpoint(tmp_path / "m")
    for shard in root.glob("*.safetensors"):
        shard.unlink()
    assert only(examine(root)).check == "index"
    report = examine(root, serve_args=("--load-format", "dummy"))
    assert report.findings == () and outcome(report, "index") == "not checked"


def test_a_single_file_checkpoint_without_an_index_is_healthy(tmp_path: Path) -> None:
    root = make_checkpoint(tmp_path / "one", shards=1)
    assert examine(root).findings == ()
    save_file({"extra": torch.zeros(1)}, str(root / "model-extra.safetensors"))
    assert examine(root).findings == ()  # no index: every file is loaded


def test_a_shard_left_out_of_the_index_warns(healthy: Path) -> None:
    save_file({"extra": torch.zeros(1)}, str(healthy / "model-extra.safetensors"))
    found = only(examine(healthy))
    assert (found.check, found.severity, found.entry_id) == ("index", "warning", E.WEIGHT_KEYS)
