"""The runbook entries the doctor predicts, by id (the slug of the entry's title).

Only ids live here: the agent side reads no runbook. The front ends look the title and
the actions up in the knowledge base, and a test holds every id to the shipped runbook.
"""

from __future__ import annotations

ARCHITECTURE = "architecture-not-recognized"
REMOTE_CODE = "remote-code-import-fails-on-transformers-symbols"
WEIGHT_KEYS = "weight-loading-key-mismatch"
FP8 = "fp8-checkpoint-on-ascend-a2-a3-must-dequant-to-bf16"
QK_NORM = "qk-norm-mismatch-kv-heads-tp-head-divisibility"
MAX_LENGTH = "config-max-length-works-on-paper-but-not-in-runtime"
MTP = "flashcomm1-mtp-confusion-on-vl-checkpoints"
OUTPUT_QUALITY = "api-reachable-but-output-quality-odd"

ENTRY_IDS = frozenset(
    {ARCHITECTURE, REMOTE_CODE, WEIGHT_KEYS, FP8, QK_NORM, MAX_LENGTH, MTP, OUTPUT_QUALITY}
)
