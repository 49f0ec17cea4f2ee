"""Model folders for make_corpus_logs.py: tiny_model.py's tiny Llama plus one defect each.

The tiny Llama has 4 attention heads of 32, 2 KV heads, 2 layers, a 1024-token vocabulary, and no
weights (served with --load-format dummy) unless `with_weights` writes a real safetensors file.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.real_vllm.tiny_model import make_tiny_model

# (folder to make the model in, python of the vLLM venv) -> the model folder
Builder = Callable[[Path, Path], Path]


def _edit_config(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    config = json.loads((path / "config.json").read_text())
    edit(config)
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def tiny(**kwargs: Any) -> Builder:
    def build(dest: Path, python: Path) -> Path:
        return make_tiny_model(dest / "tiny-llama", **kwargs)

    return build


def with_config(**values: Any) -> Builder:
    """The tiny Llama with config.json keys set to `values` (None removes the key)."""

    def build(dest: Path, python: Path) -> Path:
        model = make_tiny_model(dest / "tiny-llama")
        _edit_config(model, set_keys(**values))
        return model

    return build


def set_keys(**values: Any) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        for key, value in values.items():
            if value is None:
                config.pop(key, None)
            else:
                config[key] = value

    return edit


# Runs in the vLLM venv (torch + safetensors live there): random bf16 tensors with the shapes of
# the tiny Llama, keys renamed by (old, new) substring pairs, some dropped, some {name: shape} added.
_WEIGHTS_SCRIPT = """
import json, sys, torch
from safetensors.torch import save_file
dest, renames, drops = sys.argv[1], json.loads(sys.argv[2]), set(json.loads(sys.argv[3]))
extras = json.loads(sys.argv[4])
c = json.load(open(dest + "/config.json"))
h, nh, kv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
hd, inter, vocab = c.get("head_dim", h // nh), c["intermediate_size"], c["vocab_size"]
shapes = {"model.embed_tokens.weight": (vocab, h), "model.norm.weight": (h,),
          "lm_head.weight": (vocab, h)}
for i in range(c["num_hidden_layers"]):
    p = f"model.layers.{i}."
    shapes.update({p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
        p + "self_attn.q_proj.weight": (nh * hd, h), p + "self_attn.k_proj.weight": (kv * hd, h),
        p + "self_attn.v_proj.weight": (kv * hd, h), p + "self_attn.o_proj.weight": (h, nh * hd),
        p + "mlp.gate_proj.weight": (inter, h), p + "mlp.up_proj.weight": (inter, h),
        p + "mlp.down_proj.weight": (h, inter)})
shapes.update({name: tuple(shape) for name, shape in extras.items()})
g = torch.Generator().manual_seed(0)
tensors = {}
for name, shape in shapes.items():
    if name in drops:
        continue
    for old, new in renames:
        name = name.replace(old, new)
    if name.endswith("norm.weight"):  # RMSNorm scales start at one
        weight = torch.ones(shape)
    else:
        weight = torch.randn(shape, generator=g) * 0.02
    tensors[name] = weight.to(torch.bfloat16)
save_file(tensors, dest + "/model.safetensors", metadata={"format": "pt"})
"""


def with_weights(
    renames: tuple[tuple[str, str], ...] = (),
    drops: tuple[str, ...] = (),
    extras: tuple[tuple[str, tuple[int, ...]], ...] = (),
) -> Builder:
    def build(dest: Path, python: Path) -> Path:
        model = make_tiny_model(dest / "tiny-llama")
        argv = [str(python), "-c", _WEIGHTS_SCRIPT, str(model), json.dumps(renames)]
        argv += [json.dumps(drops)]
        subprocess.run([*argv, json.dumps(dict(extras))], check=True, timeout=120)
        return model

    return build


def invalid_json(dest: Path, python: Path) -> Path:
    model = make_tiny_model(dest / "tiny-llama")
    text = (model / "config.json").read_text()
    # A hand edit gone wrong: a trailing comma after the last key.
    (model / "config.json").write_text(text.replace('"use_cache": true', '"use_cache": true,'))
    return model


def without(*names: str) -> Builder:
    def build(dest: Path, python: Path) -> Path:
        model = make_tiny_model(dest / "tiny-llama")
        for name in names:
            (model / name).unlink()
        return model

    return build


def corrupt_tokenizer(dest: Path, python: Path) -> Path:
    model = make_tiny_model(dest / "tiny-llama")
    data = (model / "tokenizer.json").read_bytes()
    (model / "tokenizer.json").write_bytes(data[: len(data) // 2])  # an interrupted download
    return model


def no_chat_template(dest: Path, python: Path) -> Path:
    model = make_tiny_model(dest / "tiny-llama")
    path = model / "tokenizer_config.json"
    config = json.loads(path.read_text())
    del config["chat_template"]
    path.write_text(json.dumps(config, indent=2) + "\n")
    return model


_REMOTE_CONFIG = """from transformers import LlamaConfig


class TinyRemoteConfig(LlamaConfig):
    model_type = "tiny_remote"
"""
_REMOTE_MODELING = """from transformers import LlamaForCausalLM
{extra_import}
from .configuration_tiny import TinyRemoteConfig


class TinyRemoteForCausalLM(LlamaForCausalLM):
    config_class = TinyRemoteConfig
"""
# Removed from transformers in 4.48; many older remote-code checkpoints still import it.
_STALE_IMPORT = "from transformers.models.llama.modeling_llama import LlamaFlashAttention2"


def remote_code(stale_import_in: str | None = None) -> Builder:
    """A custom-code checkpoint (auto_map); `stale_import_in` names the file that imports a
    symbol current transformers no longer has ("config" or "modeling")."""

    def build(dest: Path, python: Path) -> Path:
        model = make_tiny_model(dest / "tiny-remote", architecture="TinyRemoteForCausalLM")
        stale = _STALE_IMPORT + "\n"
        config_py = (stale if stale_import_in == "config" else "") + _REMOTE_CONFIG
        extra = stale if stale_import_in == "modeling" else ""
        (model / "configuration_tiny.py").write_text(config_py)
        (model / "modeling_tiny.py").write_text(_REMOTE_MODELING.format(extra_import=extra))
        _edit_config(
            model,
            set_keys(
                model_type="tiny_remote",
                auto_map={
                    "AutoConfig": "configuration_tiny.TinyRemoteConfig",
                    "AutoModelForCausalLM": "modeling_tiny.TinyRemoteForCausalLM",
                },
            ),
        )
        return model

    return build


def qwen2_vl(dest: Path, python: Path) -> Path:
    """A Qwen2-VL-shaped config with the tokenizer but no preprocessor/processor files."""
    model = make_tiny_model(dest / "tiny-qwen2-vl", architecture="Qwen2VLForConditionalGeneration")
    _edit_config(
        model,
        set_keys(
            model_type="qwen2_vl",
            head_dim=None,
            rope_scaling={"type": "mrope", "mrope_section": [4, 6, 6]},
            vision_config={
                "depth": 1, "embed_dim": 32, "hidden_size": 128, "num_heads": 2,
                "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2,
                "temporal_patch_size": 2, "in_channels": 3,
            },
            image_token_id=1000, video_token_id=1001,
            vision_start_token_id=1002, vision_end_token_id=1003,
        ),
    )  # fmt: skip
    return model
