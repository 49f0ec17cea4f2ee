"""The doctor's architecture and `transformers` checks against a REAL vLLM environment
(the CPU build in .vllm-cpu/, or ONCALL_TEST_VLLM): what its registry holds and what its
transformers exports, asked of its own interpreter. About 10 s per probe on 2 cores.

    .venv/bin/pytest -m real_vllm tests/real_vllm/test_doctor.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runners.doctor import diagnose
from runners.doctor import entries as E
from tests.real_vllm.test_real_vllm import VLLM, WHY_NOT
from tests.real_vllm.tiny_model import make_tiny_model

pytestmark = [pytest.mark.real_vllm, pytest.mark.skipif(VLLM is None, reason=WHY_NOT)]
DUMMY = ("--load-format", "dummy")  # the tiny models have no weights: not what is judged here


def _examine(model: Path) -> tuple[list[tuple[str, str, str | None]], dict[str, str]]:
    report = diagnose(str(model), vllm_cmd=(str(VLLM),), serve_args=DUMMY)
    return [(f.check, f.severity, f.entry_id) for f in report.findings], dict(report.probe)


def test_a_registered_architecture_passes(tmp_path: Path) -> None:
    found, serving = _examine(make_tiny_model(tmp_path / "llama"))
    assert found == []
    assert serving["vllm"] and serving["transformers"]


def test_an_unregistered_architecture_is_an_error_with_the_architecture_entry(
    tmp_path: Path,
) -> None:
    model = make_tiny_model(tmp_path / "nosuch", architecture="NoSuchForCausalLM")
    assert _examine(model)[0] == [("architecture", "error", E.ARCHITECTURE)]


def test_remote_code_importing_a_name_this_transformers_lacks(tmp_path: Path) -> None:
    model = make_tiny_model(tmp_path / "remote")
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "configuration_tiny.TinyConfig"}
    (model / "config.json").write_text(json.dumps(config))
    (model / "configuration_tiny.py").write_text(
        "from transformers import PretrainedConfig\n"
        "from transformers.utils import NoSuchHelperInAnyTransformers\n"
        "class TinyConfig(PretrainedConfig):\n    model_type = 'tiny'\n"
    )
    report = diagnose(str(model), vllm_cmd=(str(VLLM),), serve_args=DUMMY)
    assert [(f.check, f.severity, f.entry_id) for f in report.findings] == [
        ("remote_code", "error", E.REMOTE_CODE)
    ]
    (finding,) = report.findings
    assert finding.evidence == (
        "configuration_tiny.py:2: from transformers.utils import NoSuchHelperInAnyTransformers: "
        f"not in transformers {report.probe['transformers']}",
    )
