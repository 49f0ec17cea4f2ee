"""Hostile or broken input is a finding or a clear error, never a traceback, never a hang,
never a read of more than a header."""

from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import pytest

from runners.doctor import ModelDirError, ServeArgsError, diagnose
from runners.doctor.checkpoint import HEADER_MAX
from tests.doctor.conftest import make_checkpoint


def errors(path: Path, **options: object) -> list[tuple[str, str]]:
    report = diagnose(str(path), vllm_cmd=None, **options)  # type: ignore[arg-type]
    return [(f.check, f.message) for f in report.findings if f.severity == "error"]


def test_a_folder_that_does_not_exist_or_is_a_file(tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match="does not exist"):
        diagnose(str(tmp_path / "nope"), vllm_cmd=None)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelDirError, match="is not a folder"):
        diagnose(str(tmp_path / "file"), vllm_cmd=None)


def test_a_folder_outside_the_model_roots(healthy: Path, tmp_path: Path) -> None:
    (tmp_path / "roots").mkdir()
    with pytest.raises(ModelDirError, match="outside the model roots"):
        diagnose(str(healthy), vllm_cmd=None, roots=(str(tmp_path / "roots"),))
    (tmp_path / "roots" / "link").symlink_to(healthy)  # a link in a root leading out of it
    with pytest.raises(ModelDirError, match="outside the model roots"):
        diagnose(str(tmp_path / "roots" / "link"), vllm_cmd=None, roots=(str(tmp_path / "roots"),))


def test_serve_arguments_that_cannot_be_read(healthy: Path) -> None:
    with pytest.raises(ServeArgsError, match="whole number"):
        diagnose(str(healthy), vllm_cmd=None, serve_args=("--tensor-parallel-size", "two"))
    with pytest.raises(ServeArgsError, match="not JSON"):
        diagnose(str(healthy), vllm_cmd=None, serve_args=("--speculative-config", "{"))


def test_links_out_of_the_model_folder_are_not_followed(healthy: Path, tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "config.json").write_text((healthy / "config.json").read_text())
    (healthy / "config.json").unlink()
    (healthy / "config.json").symlink_to(secret / "config.json")
    shard = healthy / "model-00001-of-00002.safetensors"
    shard.rename(secret / shard.name)
    shard.symlink_to(secret / shard.name)
    found = errors(healthy)
    assert (
        "config",
        f"config.json is a link to {secret}/config.json, outside the model folder: not read",
    ) in found
    report = diagnose(str(healthy), vllm_cmd=None)
    index = next(f for f in report.findings if f.check == "index")
    assert index.evidence == (
        f"{shard.name} is a link to {secret}/{shard.name}, outside the model folder: not read",
    )
    assert ("index", "1 shard header(s) cannot be read") in found


def test_a_hugging_face_cache_snapshot_links_into_its_blobs(tmp_path: Path) -> None:
    repo = tmp_path / "hub" / "models--org--tiny"
    made = make_checkpoint(tmp_path / "made")
    snapshot = repo / "snapshots" / "abc123"
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for n, file in enumerate(sorted(made.iterdir())):
        blob = repo / "blobs" / f"blob{n}"
        file.rename(blob)
        (snapshot / file.name).symlink_to(f"../../blobs/{blob.name}")
    report = diagnose(str(snapshot), vllm_cmd=None)
    assert report.findings == ()


def test_files_that_are_not_regular_files_are_not_read(healthy: Path) -> None:
    (healthy / "config.json").unlink()
    os.mkfifo(healthy / "config.json")  # a read would block for ever
    started = time.monotonic()
    found = errors(healthy)
    assert time.monotonic() - started < 5
    assert ("config", "config.json is not a regular file: not read") in found


def _shard(path: Path, header: bytes, length: int | None = None, data: bytes = b"") -> None:
    size = len(header) if length is None else length
    path.write_bytes(struct.pack("<Q", size) + header + data)


def _single(tmp_path: Path) -> Path:
    return make_checkpoint(tmp_path / "one", shards=1)


def test_a_header_claiming_a_huge_length_is_capped(tmp_path: Path) -> None:
    root = _single(tmp_path)
    _shard(root / "model.safetensors", b"{}", length=2**63)
    found = errors(root)
    assert found == [
        ("index", "1 shard header(s) cannot be read"),
    ]
    report = diagnose(str(root), vllm_cmd=None)
    assert f"over the {HEADER_MAX} safetensors allows: corrupt" in report.findings[0].evidence[0]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"\x10\x00", "no header length"),
        (struct.pack("<Q", 1000) + b'{"a":', "the header claims 1000 bytes"),
        (struct.pack("<Q", 5) + b"nope!", "the header is not JSON: corrupt"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object: corrupt"),
        (struct.pack("<Q", 17) + b'{"w": {"a": 1}}  ', "malformed"),
    ],
)
def test_a_truncated_or_corrupt_header(tmp_path: Path, content: bytes, why: str) -> None:
    root = _single(tmp_path)
    (root / "model.safetensors").write_bytes(content)
    report = diagnose(str(root), vllm_cmd=None)
    assert [f.check for f in report.findings] == ["index"]
    assert why in report.findings[0].evidence[0], report.findings[0].evidence


def test_a_shard_cut_short_after_its_header(tmp_path: Path) -> None:
    root = _single(tmp_path)
    path = root / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    report = diagnose(str(root), vllm_cmd=None)
    assert "is truncated: its tensors need" in report.findings[0].evidence[0]


def test_a_10_gb_shard_is_read_no_further_than_its_header(tmp_path: Path) -> None:
    root = _single(tmp_path)
    header = json.dumps(
        {"model.embed_tokens.weight": {"dtype": "BF16", "shape": [32, 8], "data_offsets": [0, 512]},
         "huge": {"dtype": "BF16", "shape": [5, 1 << 30], "data_offsets": [512, 512 + (10 << 30)]}}
    ).encode()  # fmt: skip
    path = root / "model.safetensors"
    _shard(path, header)
    with path.open("r+b") as f:
        f.truncate(8 + len(header) + 512 + (10 << 30))  # sparse: 10 GB that take no disk
    started = time.monotonic()
    report = diagnose(str(root), vllm_cmd=None)
    assert time.monotonic() - started < 1.0
    assert report.findings == ()


def test_an_index_that_is_not_json_or_points_outside(healthy: Path) -> None:
    index = healthy / "model.safetensors.index.json"
    index.write_text("not json")
    assert (
        "index",
        "model.safetensors.index.json is not JSON: Expecting value: line 1 column 1 (char 0)",
    ) in errors(healthy)
    index.write_text(json.dumps({"weight_map": {"w": "../../etc/passwd"}}))
    report = diagnose(str(healthy), vllm_cmd=None)
    assert any(
        "not a file name inside the model folder" in e for f in report.findings for e in f.evidence
    )
