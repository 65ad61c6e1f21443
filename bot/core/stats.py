"""The one percentile every figure of the project uses (benchmarks, the dashboard)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `q` percent of the
    values at or below it (q in 0..100). p50 of 10 values is the 5th smallest, p95 the
    10th; every benchmark reports this one."""
    if not values:
        raise ValueError("the percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q is a percentage: {q}")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]
