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
