"""Gate calibration: fitted thresholds separate the labelled routes; the file keeps its layout."""

from __future__ import annotations

import shutil

from bot.core.brand import brand_from
from bot.gate import calibration as calibrate
from bot.gate.evidence import Evidence
from bot.gate.thresholds import load_thresholds, write_thresholds

BRAND = brand_from("brightbay")
GATE_FILE, FLOWS = BRAND.gate_file, BRAND.flows()


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
    # far off: flows would be answered from documents
    start = load_thresholds(GATE_FILE).with_value("flow", "min_confidence", 0.9)
    before = calibrate.metrics(labels, calibrate.predict(evidence, start, FLOWS))
    fitted = calibrate.fit(evidence, labels, start, FLOWS, target=0.95)
    after = calibrate.metrics(labels, calibrate.predict(evidence, fitted, FLOWS))
    assert before["accuracy"] < 0.8 and after["accuracy"] == 1.0
    assert fitted.flow.min_confidence <= 0.45 and 0.38 < fitted.knowledge.min_dense <= 0.52


def test_search_finds_a_point_where_two_thresholds_must_move_together():
    """From the start no single threshold helps (a ridge): coordinate ascent alone stays
    there; the joint grid finds the top."""
    grid = {
        ("nlu", "embedding_weight"): [0.0, 0.5, 1.0],
        ("flow", "min_confidence"): [0.3, 0.5, 0.7],
    }

    def score(t) -> tuple:
        w, c = t.nlu.embedding_weight, t.flow.min_confidence
        return calibrate.at_target(
            1.0, 0.95, 1.0 if (w, c) == (1.0, 0.7) else 0.5 - abs(w - 0.5) * abs(c - 0.5)
        )

    start = load_thresholds(GATE_FILE).with_value("nlu", "embedding_weight", 0.5)
    found = calibrate.search(start.with_value("flow", "min_confidence", 0.5), score, grid)
    assert (found.nlu.embedding_weight, found.flow.min_confidence) == (1.0, 0.7)


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
    thresholds = load_thresholds(path).with_value("knowledge", "min_dense", 0.425)
    write_thresholds(thresholds, path)
    text = path.read_text()
    assert "min_dense: 0.425" in text and "# cosine similarity" in text
    assert (
        load_thresholds(path).knowledge.min_dense_agreeing
        == load_thresholds(GATE_FILE).knowledge.min_dense_agreeing
    )
    assert load_thresholds(path).topics == load_thresholds(GATE_FILE).topics


def test_negative_thresholds_are_written_too(tmp_path):
    path = tmp_path / "gate.yml"
    shutil.copy(GATE_FILE, path)
    thresholds = load_thresholds(path).with_value("knowledge", "min_dense_over_neighbour_question", -0.225)
    write_thresholds(thresholds.with_value("knowledge", "min_dense_over_neighbour", 0.05), path)
    written = load_thresholds(path).knowledge
    assert written.min_dense_over_neighbour_question == -0.225 and written.min_dense_over_neighbour == 0.05


def test_a_misspelt_or_missing_threshold_names_the_file_and_the_key(tmp_path):
    import pytest

    from bot.gate.thresholds import ThresholdsError

    path = tmp_path / "gate.yml"
    path.write_text(GATE_FILE.read_text().replace("min_margin:", "min_margn:"))
    with pytest.raises(ThresholdsError, match=r"gate.yml: `flow` has unknown key\(s\) \['min_margn'\]"):
        load_thresholds(path)
    path.write_text(GATE_FILE.read_text().replace("min_dense: ", "min_dense: high #"))
    with pytest.raises(ThresholdsError, match="knowledge.min_dense is 'high"):
        load_thresholds(path)
