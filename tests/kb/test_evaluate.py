"""Labelled cases are checked line by line: a bad row stops `kb eval` with its file and line."""

from pathlib import Path

import pytest

from kb import DEFAULT_RUNBOOK, HELD_OUT, InputError, load_cases, parse, resolve
from kb.evaluate import Case, Outcome, Report

ROW = '{"id": "a", "text": "OSError: [Errno 98] Address already in use", "expected": %s, "source": %s}'


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_row_without_source_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, ROW % ("null", '"https://x/1"'), '{"text": "boom", "expected": null}')
    with pytest.raises(InputError, match=r"cases.jsonl:2: source: Field required"):
        load_cases(path)


def test_a_misspelled_key_is_an_error_not_a_negative(tmp_path: Path) -> None:
    path = write(tmp_path, '{"text": "boom", "expect": "x", "expected": null, "source": "s"}')
    with pytest.raises(InputError, match=r"cases.jsonl:1: expect: Extra inputs"):
        load_cases(path)


def test_titles_and_ids_both_name_an_entry_and_an_unknown_one_points_at_its_line(
    tmp_path: Path,
) -> None:
    entries = parse((DEFAULT_RUNBOOK,))
    title = '"Server fails to bind on `:8000` or fails with HCCL bind errors"'
    good = write(tmp_path, ROW % (title, '"s"'))
    [case] = resolve(load_cases(good), entries)
    assert case.expected == "server-fails-to-bind-on-8000-or-fails-with-hccl-bind-errors"
    bad = write(tmp_path, ROW % ("null", '"s"'), ROW % ('"no-such-entry"', '"s"'))
    with pytest.raises(InputError, match=r"cases.jsonl:2: no runbook entry 'no-such-entry'"):
        resolve(load_cases(bad), entries)


def test_split_defaults_to_the_file_name_and_judgement_calls_count_for_top3_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "heldout.jsonl"
    path.write_text(
        '{"text": "x", "expected": "e", "source": "s", "note": "BORDERLINE: close call"}\n'
    )
    [case] = load_cases(path)
    assert case.split == HELD_OUT and case.judged
    clear = Case("c", "y", "e", HELD_OUT)
    report = Report([Outcome(case, "no_match", ("e",), 0.3), Outcome(clear, "likely", ("e",), 0.4)])
    m = report.metrics()
    assert m["clear"] == 1 and m["top1"] == 0.0  # "likely" is never a match
    assert m["top3"] == 1.0
