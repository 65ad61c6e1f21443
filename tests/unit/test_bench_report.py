"""The benchmarks' one report helper: one percentile, .md and .json, notes kept."""

from __future__ import annotations

import json

import pytest

from bot.bench.report import latency_ms, percentile, write_report


def test_the_percentile_is_the_nearest_rank():
    values = [float(v) for v in range(10, 0, -1)]  # order does not matter
    assert percentile(values, 50) == 5.0 and percentile(values, 95) == 10.0
    assert percentile(values, 90) == 9.0 and percentile(values, 0) == 1.0 and percentile(values, 100) == 10.0
    assert percentile([0.2], 95) == 0.2
    assert latency_ms([0.001 * v for v in range(1, 21)]) == {"p50_ms": 10.0, "p95_ms": 19.0}
    with pytest.raises(ValueError):
        percentile([], 50)


def test_a_report_is_markdown_and_json_and_keeps_its_notes(tmp_path):
    md, js = write_report("x", "# X\n\n| a |\n|---|\n| 1 |", {"a": 1}, tmp_path)
    md.write_text(md.read_text() + "\nNotes:\n- written by hand\n")
    write_report("x", "# X\n\n| a |\n|---|\n| 2 |", {"a": 2}, tmp_path)
    assert "| 2 |" in md.read_text() and md.read_text().endswith("Notes:\n- written by hand\n")
    assert "| 1 |" not in md.read_text() and json.loads(js.read_text()) == {"a": 2}
