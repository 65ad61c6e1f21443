"""Gate calibration: fitted thresholds separate the labelled routes; the file keeps its layout."""

from __future__ import annotations

import shutil

from bot import calibrate
from bot.gate import GATE_FILE, Evidence, load_thresholds


def synthetic() -> tuple[list[Evidence], list[str]]:
    evidence, labels = [], []
    for i in range(10):  # knowledge questions: close passages (0.52..0.61), NLU unsure
        evidence.append(Evidence(f"q{i}", [("nlu_fallback", 0.3)], dense_top=0.52 + i * 0.01))
        labels.append("knowledge")
    for i in range(10):  # out of scope: NLU sure, passages far (0.20..0.38)
        evidence.append(Evidence(f"o{i}", [("out_of_scope", 0.7), ("greet", 0.1)], dense_top=0.2 + i * 0.02))
        labels.append("out_of_scope")
    for i in range(10):  # flows: NLU fairly sure (0.45..0.54); passages sometimes close
        evidence.append(Evidence(f"f{i}", [("track_order", 0.45 + i * 0.01), ("x", 0.1)], dense_top=0.5))
        labels.append("flow")
    return evidence, labels


def test_fit_finds_thresholds_that_separate_the_routes():
    evidence, labels = synthetic()
    start = load_thresholds()
    start["flow"]["min_confidence"] = 0.9  # far off: flows would be answered from documents
    before = calibrate.metrics(labels, calibrate.predict(evidence, start))
    fitted = calibrate.fit(evidence, labels, start, target=0.95)
    after = calibrate.metrics(labels, calibrate.predict(evidence, fitted))
    assert before["accuracy"] < 0.8 and after["accuracy"] == 1.0
    assert fitted["flow"]["min_confidence"] <= 0.45 and 0.38 < fitted["knowledge"]["min_dense"] <= 0.52


def test_search_finds_a_point_where_two_thresholds_must_move_together():
    """From the start no single threshold helps (a ridge): coordinate ascent alone stays
    there; the joint grid finds the top."""
    grid = {
        ("nlu", "embedding_weight"): [0.0, 0.5, 1.0],
        ("flow", "min_confidence"): [0.3, 0.5, 0.7],
    }

    def score(t: dict) -> tuple:
        w, c = t["nlu"]["embedding_weight"], t["flow"]["min_confidence"]
        return calibrate.at_target(
            1.0, 0.95, 1.0 if (w, c) == (1.0, 0.7) else 0.5 - abs(w - 0.5) * abs(c - 0.5)
        )

    start = {"nlu": {"embedding_weight": 0.5}, "flow": {"min_confidence": 0.5}}
    found = calibrate.search(start, score, grid)
    assert (found["nlu"]["embedding_weight"], found["flow"]["min_confidence"]) == (1.0, 0.7)


def test_at_target_ranks_any_point_that_reaches_the_target_first():
    reached = calibrate.at_target(0.95, 0.95, 0.6)
    assert reached > calibrate.at_target(0.94, 0.95, 0.99)
    assert calibrate.at_target(0.94, 0.95, 0.5) > calibrate.at_target(0.9, 0.95, 0.99)
    assert calibrate.at_target(0.97, 0.95, 0.7) > reached


def test_confusion_table_counts_each_label_and_route():
    table = calibrate.confusion_table(["flow", "knowledge", "knowledge"], ["flow", "knowledge", "clarify"])
    assert "| knowledge | 0 | 1 | 1 |" in table


def test_write_keeps_comments_and_changes_only_values(tmp_path):
    path = tmp_path / "gate.yml"
    shutil.copy(GATE_FILE, path)
    thresholds = load_thresholds(path)
    thresholds["knowledge"]["min_dense"] = 0.425
    calibrate.write_thresholds(thresholds, path)
    text = path.read_text()
    assert "min_dense: 0.425" in text and "# cosine similarity" in text
    assert (
        load_thresholds(path)["knowledge"]["min_dense_agreeing"]
        == load_thresholds()["knowledge"]["min_dense_agreeing"]
    )
    assert load_thresholds(path)["topics"] == load_thresholds()["topics"]


def test_negative_thresholds_are_written_too(tmp_path):
    path = tmp_path / "gate.yml"
    shutil.copy(GATE_FILE, path)
    thresholds = load_thresholds(path)
    thresholds["knowledge"]["min_dense_over_neighbour_question"] = -0.225
    thresholds["knowledge"]["min_dense_over_neighbour"] = 0.05
    calibrate.write_thresholds(thresholds, path)
    written = load_thresholds(path)["knowledge"]
    assert (
        written["min_dense_over_neighbour_question"] == -0.225 and written["min_dense_over_neighbour"] == 0.05
    )
