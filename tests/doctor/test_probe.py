"""Finding the serving interpreter behind `--vllm-cmd`, asking it, and reading the model's
own code without running it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runners.doctor.probe import ask, find_interpreter
from runners.doctor.remote_code import Import, auto_map_modules, imports_of


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_the_interpreter_on_the_vllm_scripts_shebang(tmp_path: Path) -> None:
    vllm = _script(tmp_path / "a" / "vllm", "#!/opt/venv/bin/python3.11\nimport sys\n")
    assert find_interpreter((str(vllm),)) == "/opt/venv/bin/python3.11"


def test_pips_exec_trampoline_for_long_paths(tmp_path: Path) -> None:
    long = "/very/long/path/env/bin/python"
    text = f"#!/bin/sh\n'''exec' {long} \"$0\" \"$@\"\n' '''\nimport sys\n"
    assert find_interpreter((str(_script(tmp_path / "vllm", text)),)) == long


def test_the_venvs_python_beside_a_script_without_one(tmp_path: Path) -> None:
    vllm = _script(tmp_path / "bin" / "vllm", "#!/bin/sh\nexec true\n")
    python = _script(tmp_path / "bin" / "python", "")
    assert find_interpreter((str(vllm),)) == str(python)


def test_a_python_named_first_and_no_command_at_all(tmp_path: Path) -> None:
    assert find_interpreter((sys.executable, "-m", "vllm.entrypoints.cli.main")) == sys.executable
    assert find_interpreter((str(tmp_path / "missing" / "vllm"),)) is None
    assert find_interpreter(()) is None


def test_an_interpreter_that_hangs_or_says_nothing_useful(tmp_path: Path) -> None:
    hangs = _script(tmp_path / "hangs" / "python", "#!/bin/sh\nsleep 30\n")
    probe = ask(str(hangs), timeout_s=0.5)
    assert probe.architectures is None and "did not answer within" in (probe.problem or "")
    noise = _script(tmp_path / "noise" / "python", "#!/bin/sh\necho Traceback >&2\nexit 3\n")
    probe = ask(str(noise))
    assert probe.problem == f"{noise} exited 3: Traceback"


def test_without_vllm_the_interpreter_still_answers_for_transformers() -> None:
    # This test environment has transformers but no vLLM: the probe says which is which.
    names = (Import("m.py", 1, "transformers", "PretrainedConfig"),
             Import("m.py", 2, "transformers", "NoSuchNameAnywhere"))  # fmt: skip
    probe = ask(sys.executable, names)
    assert probe.architectures is None and "vLLM cannot be imported" in (probe.problem or "")
    assert [probe.has(i) for i in names] == [True, False]


def test_imports_are_read_with_ast_and_guarded_ones_left_out() -> None:
    source = (
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "from transformers.modeling_utils import PreTrainedModel\n"
        "from .configuration_x import XConfig\n"
        "import transformers.models.llama.modeling_llama as llama\n"
        "try:\n    from transformers import Fancy\nexcept ImportError:\n    Fancy = None\n"
        "if TYPE_CHECKING:\n    from transformers import OnlyForTypes\n"
    )
    local, transformers, others = imports_of(source, "modeling_x.py")
    assert local == ["configuration_x"]
    assert sorted((i.module, i.name) for i in transformers) == [
        ("transformers.modeling_utils", "PreTrainedModel"),
        ("transformers.models.llama.modeling_llama", ""),
    ]
    assert {i.module for i in others} == {"os", "typing"}
    with pytest.raises(SyntaxError):
        imports_of("def (", "bad.py")


def test_auto_map_modules_and_code_from_another_repository() -> None:
    auto_map = {
        "AutoConfig": "configuration_x.XConfig",
        "AutoModelForCausalLM": "modeling_x.XForCausalLM",
        "AutoTokenizer": ["tokenization_x.XTokenizer", None],
        "AutoProcessor": "org/other--processing_x.XProcessor",
    }
    assert auto_map_modules(auto_map) == (
        ["configuration_x", "modeling_x", "tokenization_x"],
        ["org/other--processing_x.XProcessor"],
    )
    assert auto_map_modules("not a map") == ([], [])
