"""The checkpoint doctor: what a launch would fail on, read from the checkpoint's
metadata (config.json, the safetensors index and shard headers, the model's own code)
and asked of the interpreter that will serve it, before `vllm serve` spends minutes.

Agent side: it imports only the base dependencies. Findings name runbook entries by id
(`ENTRY_IDS`); the front ends look up their titles and actions.
"""

from __future__ import annotations

from runners.doctor.diagnose import CHECKS, diagnose
from runners.doctor.entries import ENTRY_IDS
from runners.doctor.errors import DoctorError, ModelDirError, ServeArgsError
from runners.doctor.findings import Checked, DoctorReport, Finding, Severity
from runners.doctor.probe import find_interpreter

__all__ = [
    "CHECKS",
    "ENTRY_IDS",
    "Checked",
    "DoctorError",
    "DoctorReport",
    "Finding",
    "ModelDirError",
    "ServeArgsError",
    "Severity",
    "diagnose",
    "find_interpreter",
]
