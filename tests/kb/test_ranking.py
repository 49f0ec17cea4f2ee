import json
from pathlib import Path

import numpy as np
import pytest

from kb import KBError
from kb.ranking import FEATURES, Calibration, confidence, features, noisy_or


def test_features_are_relative_to_the_paste_and_name_unsupported_errors() -> None:
    rows = features(
        signature=np.array([0.9, 0.0, 0.0], dtype=np.float32),
        bm25=np.array([12.0, 6.0, 0.0], dtype=np.float32),
        cosine=np.array([0.70, 0.55, 0.10], dtype=np.float32),
        has_cause=True,
    )
    col = {name: rows[:, i] for i, name in enumerate(FEATURES)}
    assert col["lexical_rel"].tolist() == [1.0, 0.5, 0.0]
    assert col["lexical"][1] == pytest.approx(0.5)  # BM25 6 is the half-way point
    assert col["dense"][2] == 0.0  # below the floor is no evidence
    assert col["dense_margin"][0] == pytest.approx(0.3) and col["dense_margin"][1] < 0
    assert col["unnamed_error"].tolist() == [0.0, 1.0, 1.0]
    # How far ahead in words the entry is: the leader by half its score, the rest behind.
    assert col["lexical_margin"].tolist() == pytest.approx([0.5, -0.5, -1.0])
    tied = features(
        np.zeros(2, np.float32), np.array([5.0, 5.0], np.float32), np.zeros(2, np.float32), True
    )
    assert tied[:, FEATURES.index("lexical_margin")].tolist() == [0.0, 0.0]  # no leader
    no_cause = features(
        np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32), False
    )
    assert not no_cause[:, FEATURES.index("unnamed_error")].any()


def test_noisy_or_and_confidence_words() -> None:
    assert noisy_or([0.5, 0.5]) == pytest.approx(0.75)
    assert noisy_or([]) == 0.0
    assert [confidence(s) for s in (0.95, 0.6, 0.2)] == ["high", "medium", "low"]


def test_calibration_round_trips_and_a_stale_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    cal = Calibration(tuple(float(i) for i in range(len(FEATURES))), -1.0)
    cal.save(path, {"note": "test"})
    assert Calibration.load(path) == cal
    probability = cal.probability(np.zeros((2, len(FEATURES)), dtype=np.float32))
    assert probability.tolist() == pytest.approx([1 / (1 + np.e), 1 / (1 + np.e)])
    stale = json.loads(path.read_text()) | {"features": ["signature"]}
    path.write_text(json.dumps(stale))
    with pytest.raises(KBError, match="unusable: fitted for features"):
        Calibration.load(path)
