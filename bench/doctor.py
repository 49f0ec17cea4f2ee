"""Checkpoint doctor benchmark: a 100-shard checkpoint of any size is examined from its
headers alone; prints figures, asserts nothing.

    python bench/doctor.py [--shards 100] [--shard-gb 5] [--runs 5] [--vllm-cmd .vllm-cpu/bin/vllm]

Each shard is a real safetensors header (40 tensors) followed by a sparse hole of
--shard-gb GB, so the checkpoint claims shards x shard-gb GB and takes no disk. Printed:
the examination without the interpreter probe (median and max of --runs), then the one-time
probe of the serving interpreter (importing vLLM and its plugins), apart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import tempfile
import time
from pathlib import Path

from runners.doctor import diagnose, find_interpreter
from runners.doctor.probe import ask

LAYERS_PER_SHARD = 4
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 32768,
}  # fmt: skip


def make(root: Path, shards: int, shard_gb: float) -> None:
    CONFIG["num_hidden_layers"] = shards * LAYERS_PER_SHARD
    (root / "config.json").write_text(json.dumps(CONFIG))
    (root / "tokenizer.json").write_text("{}")
    (root / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ m }}"}))
    weight_map: dict[str, str] = {}
    size = int(shard_gb * (1 << 30))
    for k in range(shards):
        name = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        header: dict[str, object] = {"__metadata__": {"format": "pt"}}
        per = size // (LAYERS_PER_SHARD * 10)
        for n in range(LAYERS_PER_SHARD * 10):
            layer, part = k * LAYERS_PER_SHARD + n // 10, n % 10
            tensor = f"model.layers.{layer}.part{part}.weight"
            header[tensor] = {"dtype": "BF16", "shape": [per // 2], "data_offsets": [n * per, (n + 1) * per]}  # fmt: skip
            weight_map[tensor] = name
        raw = json.dumps(header).encode()
        with (root / name).open("wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw)
            f.truncate(8 + len(raw) + per * LAYERS_PER_SHARD * 10)  # sparse: no disk used
    index = {"metadata": {}, "weight_map": weight_map}
    (root / "model.safetensors.index.json").write_text(json.dumps(index))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=100)
    parser.add_argument("--shard-gb", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--vllm-cmd", default=str(Path(__file__).parents[1] / ".vllm-cpu/bin/vllm"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="doctor-bench-") as tmp:
        root = Path(tmp)
        make(root, args.shards, args.shard_gb)
        claimed = sum(p.stat().st_size for p in root.glob("*.safetensors")) / (1 << 30)
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            report = diagnose(str(root), vllm_cmd=None)
            times.append(time.perf_counter() - started)
        assert report.ok, report.findings
        print(f"checkpoint: {args.shards} shards, {claimed:.0f} GB claimed (sparse), "
              f"{len(report.checked)} checks, {len(report.findings)} findings")  # fmt: skip
        print(f"headers only: median {statistics.median(times):.3f} s, max {max(times):.3f} s "
              f"over {args.runs} runs (target <= 1 s)")  # fmt: skip
        python = find_interpreter((args.vllm_cmd,))
        if python is None:
            print(f"interpreter probe: no interpreter behind {args.vllm_cmd}: not measured")
            return
        started = time.perf_counter()
        probe = ask(python)
        took = time.perf_counter() - started
        archs = len(probe.architectures or ())
        print(f"interpreter probe (once per interpreter): {took:.1f} s, {python}, "
              f"vllm {probe.versions.get('vllm')}, {archs} architectures"
              + (f", problem: {probe.problem}" if probe.problem else ""))  # fmt: skip


if __name__ == "__main__":
    main()
