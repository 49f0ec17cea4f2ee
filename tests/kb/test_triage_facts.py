"""What the reader's facts do to an answer, with the real model and the shipped runbook."""

from kb import Triager
from kb.triage import IMPORT_NOTE

REMOTE_CODE = "remote-code-import-fails-on-transformers-symbols"
DIRECT_RUN = "direct-run-doesnt-pick-your-code-changes"
QUALITY = "api-reachable-but-output-quality-odd"
ARCHITECTURE = "architecture-not-recognized"


def test_a_bare_transformers_import_is_never_a_match_and_says_what_to_look_for(
    triager: Triager,
) -> None:
    bare = triager.triage(
        "ImportError: cannot import name 'DeepseekV2Config' from 'transformers' "
        "(/home/u/envs/vllm/lib/python3.10/site-packages/transformers/__init__.py)"
    )
    assert bare.verdict != "match"
    assert bare.matches[0].entry_id == REMOTE_CODE  # still the one to read first
    assert IMPORT_NOTE in bare.notes
    remote = triager.triage(
        '  File "/root/.cache/huggingface/modules/transformers_modules/m/modeling_m.py", line 9, in <module>\n'
        "    from transformers.utils import LossKwargs\n"
        "ImportError: cannot import name 'LossKwargs' from 'transformers.utils'\n"
    )
    assert remote.verdict == "match" and remote.matches[0].entry_id == REMOTE_CODE
    assert IMPORT_NOTE not in remote.notes


def test_vllm_that_cannot_import_itself_is_the_direct_run_entry(triager: Triager) -> None:
    result = triager.triage(
        "python -c 'import vllm; print(vllm.__version__)'\n"
        "ImportError: cannot import name '__version__' from 'vllm' (unknown location)\n"
    )
    assert result.verdict == "match"
    assert result.matches[0].entry_id == DIRECT_RUN


def test_token_salad_from_a_running_server_is_the_output_quality_entry(triager: Triager) -> None:
    result = triager.triage(
        "INFO 05-01 10:00:00 [core.py:1] init engine (profile, create kv cache, warmup model) took 8.58 seconds\n"
        "Prompt: 'Hello, my name is', Generated text: 'vertisementclosed ה Various草肉 acheter逐渐 "
        "nextState_language recommending出品 Clause กระจาย'\n"
        "Prompt: 'The capital of France is', Generated text: '.dateFormat Kushner çok 风湿 CHAPTER 地产'\n"
    )
    assert result.verdict == "match"
    assert result.matches[0].entry_id == QUALITY


def test_a_missing_dependency_during_inspection_is_not_an_unknown_architecture(
    triager: Triager,
) -> None:
    result = triager.triage(
        "ERROR 12-07 05:35:01 [registry.py:1] Error in inspecting model architecture "
        "'Qwen2VLForConditionalGeneration'\n"
        '  File "/x/site-packages/transformers/models/qwen2_vl/image_processing_qwen2_vl.py", line 26, in <module>\n'
        "    from torchvision.transforms.v2 import functional as tvF\n"
        "ModuleNotFoundError: No module named 'torchvision'\n"
    )
    assert not (result.verdict == "match" and result.matches[0].entry_id == ARCHITECTURE)
