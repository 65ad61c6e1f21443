"""What every benchmark shares: one definition of a percentile, and one way to write a
report (docs/benchmarks/<name>.md for people, <name>.json for tools), so figures of
different benchmarks compare."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.settings import ROOT
from bot.core.stats import percentile  # noqa: F401  (re-exported: the benchmarks' percentile)

OUT_DIR = ROOT / "docs" / "benchmarks"
NOTES = "Notes:"  # a report's hand-written notes start at this line and survive a re-run


def latency_ms(seconds: Sequence[float], prefix: str = "") -> dict[str, float]:
    """p50 and p95 of durations in seconds, as milliseconds rounded to 0.1."""
    return {
        f"{prefix}p50_ms": round(percentile(seconds, 50) * 1000, 1),
        f"{prefix}p95_ms": round(percentile(seconds, 95) * 1000, 1),
    }


def provenance() -> dict[str, str]:
    """When, on which commit and on what machine a benchmark ran."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit.stdout.strip(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
    }


def kept_notes(path: Path) -> str:
    """The hand-written notes of an existing report (from the "Notes:" line on), or ""."""
    if not path.exists():
        return ""
    text = path.read_text()
    start = text.find("\n" + NOTES)
    return text[start + 1 :] if start >= 0 else ""


def write_report(
    name: str, markdown: str, data: dict[str, Any], out_dir: Path = OUT_DIR
) -> tuple[Path, Path]:
    """docs/benchmarks/<name>.md (keeping its notes) and <name>.json; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / f"{name}.md", out_dir / f"{name}.json"
    notes = kept_notes(md)
    md.write_text(markdown.rstrip() + "\n" + (f"\n{notes}" if notes else ""))
    js.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return md, js


def publish(name: str, markdown: str, data: dict[str, Any], save: bool) -> None:
    """Print a report; with `save`, also write it (write_report)."""
    print(markdown)
    if save:
        write_report(name, markdown, data)
