"""`tandem bench gate` for real: both Rasa pipelines trained, the gate fitted on val, on a
tiny CLINC150 extract (6 intents; tests/data/clinc150_tiny.json, CC BY 3.0)."""

from __future__ import annotations

import json
import subprocess
import sys

from bot.core.settings import ROOT

DATA = ROOT / "tests" / "data" / "clinc150_tiny.json"


def bench(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "bot.tandem.cli", "bench", "gate", "--dataset", str(DATA), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_bench_gate_trains_both_systems_and_reports_them_side_by_side(tmp_path):
    out, keep = tmp_path / "results.json", tmp_path / "keep"
    result = bench("--json", str(out), "--keep", str(keep))
    results = json.loads(out.read_text())
    assert results["intents"] == 7 and results["test_messages"] == 38
    stock, project = results["stock_rasa"], results["project"]
    # six well-separated intents: both classifiers must learn them
    assert stock["in_scope_accuracy"] >= 0.8 and project["nlu_only"]["in_scope_accuracy"] >= 0.8
    for system in (stock, project):
        assert 0.0 <= system["out_of_scope_recall"] <= 1.0 and system["out_of_scope_messages"] == 8
    assert set(project["thresholds"]) == {"nlu", "flow", "neighbours", "out_of_scope"}
    assert "stock Rasa" in result.stdout and "project: NLU + gate" in result.stdout
    assert not stock["model_reused"] and not project["model_reused"]
    assert 0.0 <= project["without_classifier"]["in_scope_accuracy"] <= 1.0

    # the same folder again: the stock model trained on the same rows is reused, not retrained
    again = tmp_path / "again.json"
    result = bench("--json", str(again), "--keep", str(keep), "--skip", "project")
    rerun = json.loads(again.read_text())["stock_rasa"]
    assert rerun["model_reused"] and "reusing" in result.stdout
    assert rerun["in_scope_accuracy"] == stock["in_scope_accuracy"] and rerun["train_s"] == stock["train_s"]
