"""Tiny checkpoints made on the spot: real safetensors shards (torch tensors, fp8 included),
an index, a config and tokenizer files; each test changes one thing and looks for its
finding. A fake serving interpreter answers the probe as a real one would."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "intermediate_size": 128,
    "max_position_embeddings": 2048,
    "vocab_size": 32,
}


def llama_tensors(layers: int = 2, prefix: str = "model.") -> dict[str, torch.Tensor]:
    found = {f"{prefix}embed_tokens.weight": torch.zeros(32, 8, dtype=torch.bfloat16)}
    for i in range(layers):
        for part in ("self_attn.q_proj", "self_attn.k_proj", "mlp.down_proj"):
            found[f"{prefix}layers.{i}.{part}.weight"] = torch.zeros(8, 8, dtype=torch.bfloat16)
    found[f"{prefix}norm.weight"] = torch.ones(8, dtype=torch.bfloat16)
    found["lm_head.weight"] = torch.zeros(32, 8, dtype=torch.bfloat16)
    return found


def fp8(shape: tuple[int, ...] = (8, 8)) -> torch.Tensor:
    return torch.zeros(*shape, dtype=torch.float8_e4m3fn)


def make_checkpoint(
    root: Path,
    config: dict[str, Any] | None = None,
    tensors: dict[str, torch.Tensor] | None = None,
    shards: int = 2,
    tokenizer: bool = True,
    chat_template: bool = True,
) -> Path:
    """A model folder: config.json, `shards` safetensors files and their index (one file and
    no index when `shards` is 1), tokenizer.json and a chat template."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(CONFIG if config is None else config))
    tensors = llama_tensors() if tensors is None else tensors
    names = sorted(tensors)
    if shards == 1:
        save_file({n: tensors[n] for n in names}, str(root / "model.safetensors"))
    else:
        weight_map = {}
        for k in range(shards):
            file = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
            part = names[k::shards]
            save_file({n: tensors[n] for n in part}, str(root / file))
            weight_map |= dict.fromkeys(part, file)
        index = {"metadata": {}, "weight_map": weight_map}
        (root / "model.safetensors.index.json").write_text(json.dumps(index))
    if tokenizer:
        (root / "tokenizer.json").write_text('{"version": "1.0"}')
        tok_config = {"chat_template": "{{ messages }}"} if chat_template else {}
        (root / "tokenizer_config.json").write_text(json.dumps(tok_config))
    return root


def edit_config(root: Path, **changes: Any) -> None:
    config = json.loads((root / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (root / "config.json").write_text(json.dumps(config))


def fake_vllm(
    where: Path,
    architectures: tuple[str, ...] = ("LlamaForCausalLM", "Qwen2VLForConditionalGeneration"),
    missing_names: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """A `vllm` script whose #! names a fake interpreter that answers the doctor's probe:
    these architectures registered; every transformers name asked exists but
    `missing_names` ("module:name")."""
    bin_dir = where / "env" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    python = bin_dir / "python3"
    python.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import json, sys
            ask = json.loads(sys.stdin.read())
            print("INFO vllm logs on import, on stdout")
            missing = {list(missing_names)!r}
            names = {{m + ":" + n: (m + ":" + n) not in missing for m, n in ask["names"]}}
            answer = {{"python": "3.11.0", "vllm": "0.11.0", "transformers": "4.57.1",
                      "architectures": {list(architectures)!r}, "names": names,
                      "packages": {{p: True for p in ask["packages"]}}}}
            print(ask["mark"] + json.dumps(answer))
            """
        )
    )
    python.chmod(0o755)
    vllm = bin_dir / "vllm"
    vllm.write_text(f"#!{python}\nraise SystemExit('not for serving')\n")
    vllm.chmod(0o755)
    return (str(vllm),)


@pytest.fixture
def healthy(tmp_path: Path) -> Path:
    return make_checkpoint(tmp_path / "healthy")
