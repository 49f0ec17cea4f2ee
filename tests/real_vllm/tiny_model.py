"""Write a tiny Llama-style model folder that a real `vllm serve --load-format dummy` can start.

No weights are written: vLLM's dummy load format fills them at random. The tokenizer is trained
here with the `tokenizers` library on a small built-in corpus, so nothing is fetched from a hub.

    python tests/real_vllm/tiny_model.py DEST [--head-dim 16] [--architecture X]

vLLM's CPU attention supports head_dim 32, 64, 80, 96, 112, 128...; head_dim 16 starts but fails
on the first request (a real false-ready).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

VOCAB_SIZE = 1024
NUM_HEADS = 4
NUM_KV_HEADS = 2
NUM_LAYERS = 2
INTERMEDIATE_SIZE = 256

BOS = "<s>"
EOS = "</s>"
UNK = "<unk>"
PAD = "<pad>"
SPECIAL_TOKENS = [UNK, BOS, EOS, PAD]

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ message['role'] }}: {{ message['content'] }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)

_CORPUS = [
    "What is the capital of France? Answer in one word.",
    "The capital of France is Paris.",
    "The capital of Germany is Berlin. The capital of Italy is Rome.",
    "vLLM serves large language models with an OpenAI compatible API.",
    "The server is ready when the health endpoint answers with status 200.",
    "Ascend NPUs run models through the vllm-ascend plugin and torch_npu.",
    "user: hello there\nassistant: hello, how can I help you today?",
    "system: you are a helpful assistant that answers briefly.",
    "The quick brown fox jumps over the lazy dog 0 1 2 3 4 5 6 7 8 9.",
    "Please explain the error, the log line, and the next step to fix it.",
    "Memory, cache, tokens, blocks, layers, heads, attention, and weights.",
    "A B C D E F G H I J K L M N O P Q R S T U V W X Y Z",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "! ? . , ; : ' \" ( ) [ ] { } < > / \\ | - _ + = * & ^ % $ # @ ~ `",
]


def _train_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tokenizer


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def make_tiny_model(
    dest: Path,
    head_dim: int = 32,
    architecture: str = "LlamaForCausalLM",
    max_position_embeddings: int = 2048,
) -> Path:
    """Write config, tokenizer and generation config for a tiny model into `dest`; return it."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)

    tokenizer = _train_tokenizer()
    tokenizer.save(str(dest / "tokenizer.json"))
    ids = {tok: tokenizer.token_to_id(tok) for tok in SPECIAL_TOKENS}
    if any(i is None for i in ids.values()):
        raise RuntimeError(f"special tokens missing from the trained vocabulary: {ids}")

    _write_json(
        dest / "config.json",
        {
            "architectures": [architecture],
            "model_type": "llama",
            "hidden_size": NUM_HEADS * head_dim,
            "num_attention_heads": NUM_HEADS,
            "num_key_value_heads": NUM_KV_HEADS,
            "head_dim": head_dim,
            "num_hidden_layers": NUM_LAYERS,
            "intermediate_size": INTERMEDIATE_SIZE,
            "vocab_size": VOCAB_SIZE,
            "max_position_embeddings": max_position_embeddings,
            "hidden_act": "silu",
            "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0,
            "initializer_range": 0.02,
            "tie_word_embeddings": False,
            "attention_bias": False,
            "mlp_bias": False,
            "bos_token_id": ids[BOS],
            "eos_token_id": ids[EOS],
            "pad_token_id": ids[PAD],
            "torch_dtype": "bfloat16",
            "use_cache": True,
        },
    )
    _write_json(
        dest / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": BOS,
            "eos_token": EOS,
            "unk_token": UNK,
            "pad_token": PAD,
            "add_bos_token": False,
            "add_eos_token": False,
            "clean_up_tokenization_spaces": False,
            "model_max_length": max_position_embeddings,
            "chat_template": CHAT_TEMPLATE,
        },
    )
    _write_json(
        dest / "special_tokens_map.json",
        {"bos_token": BOS, "eos_token": EOS, "unk_token": UNK, "pad_token": PAD},
    )
    _write_json(
        dest / "generation_config.json",
        {"bos_token_id": ids[BOS], "eos_token_id": ids[EOS], "pad_token_id": ids[PAD]},
    )
    return dest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--head-dim", type=int, default=32)
    parser.add_argument("--architecture", default="LlamaForCausalLM")
    parser.add_argument("--max-position-embeddings", type=int, default=2048)
    args = parser.parse_args(argv)
    print(
        make_tiny_model(args.dest, args.head_dim, args.architecture, args.max_position_embeddings)
    )


if __name__ == "__main__":
    main()
