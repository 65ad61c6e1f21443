"""Fit the gate's thresholds to labelled messages: the search behind `tandem gate calibrate`
(bot/tandem/gate.py, which gathers each message's evidence from the running assistant) and
`tandem bench gate`.

Each labelled message carries a label: flow, knowledge, out_of_scope or chitchat. The gate
decides offline for any thresholds; the search (a joint grid over three thresholds, then
coordinate ascent over all) keeps the best accuracy among the thresholds whose precision on
the answering routes (flow and knowledge) reaches the target.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.core.brand import Flows
from bot.gate.decide import Decision, decide
from bot.gate.evidence import Evidence
from bot.gate.thresholds import Thresholds

Score = Callable[[Thresholds], tuple]

LABELS = ("flow", "knowledge", "out_of_scope", "chitchat", "clarify")
ANSWERING = ("flow", "knowledge")
GRID: dict[tuple[str, str], list[float]] = {
    ("nlu", "embedding_weight"): [round(0.1 * i, 1) for i in range(11)],
    ("flow", "min_confidence"): [round(0.3 + 0.05 * i, 2) for i in range(13)],
    ("flow", "min_margin"): [0.0, 0.05, 0.1, 0.15, 0.2, 0.3],
    ("knowledge", "min_dense"): [round(0.3 + 0.025 * i, 3) for i in range(17)],
    ("knowledge", "min_dense_agreeing"): [round(0.2 + 0.025 * i, 3) for i in range(17)],
    ("knowledge", "min_dense_flow_question"): [round(0.6 + 0.025 * i, 3) for i in range(17)],
    ("knowledge", "min_dense_over_neighbour_question"): [round(-0.3 + 0.025 * i, 3) for i in range(17)],
    ("knowledge", "min_dense_over_neighbour"): [round(-0.2 + 0.025 * i, 3) for i in range(17)],
    ("knowledge", "min_dense_product"): [round(0.3 + 0.025 * i, 3) for i in range(10)],
    ("neighbours", "min_similarity_intent"): [round(0.75 + 0.025 * i, 3) for i in range(11)],
    ("neighbours", "min_similarity_agreeing"): [round(0.6 + 0.025 * i, 3) for i in range(13)],
    ("neighbours", "min_similarity_veto"): [round(0.8 + 0.025 * i, 3) for i in range(9)],
    ("neighbours", "max_similarity_out_of_scope"): [round(0.2 + 0.025 * i, 3) for i in range(13)],
    ("out_of_scope", "min_confidence"): [round(0.2 + 0.1 * i, 2) for i in range(8)],
    ("clarify", "min_candidate"): [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5],
    ("clarify", "min_dense_titles"): [0.0] + [round(0.2 + 0.025 * i, 3) for i in range(13)],
}


def label_of(decision: Decision, flows: Flows) -> str:
    """The label a route earns: a scripted answer to a question counts as knowledge."""
    if decision.route == "flow":
        if decision.intent in flows.intents:
            return "flow"
        return "chitchat" if decision.intent in flows.chitchat_intents else "knowledge"
    if decision.route == "handoff":
        return "clarify"
    return decision.route


def predict(evidence: list[Evidence], thresholds: Thresholds, flows: Flows) -> list[str]:
    return [label_of(decide(e, thresholds, flows, handoff_after=10**6), flows) for e in evidence]


def metrics(labels: list[str], predicted: list[str]) -> dict[str, Any]:
    n = len(labels)
    precision = {}
    for route in ANSWERING:
        chosen = [label for label, p in zip(labels, predicted, strict=True) if p == route]
        precision[route] = round(sum(label == route for label in chosen) / len(chosen), 3) if chosen else 1.0
    return {
        "messages": n,
        "accuracy": round(sum(a == b for a, b in zip(labels, predicted, strict=True)) / n, 3) if n else 0.0,
        "precision": precision,
        "confusion": Counter(f"{a}->{b}" for a, b in zip(labels, predicted, strict=True)),
    }


# coordinate ascent alone stops where no single threshold helps, short of points where the
# blend weight, the confidence and the out-of-scope distance move together: the search
# starts from the best point of a joint grid over these three
JOINT = (
    ("nlu", "embedding_weight"),
    ("flow", "min_confidence"),
    ("neighbours", "max_similarity_out_of_scope"),
)


def at_target(reached: float, target: float, accuracy: float) -> tuple:
    """The score of thresholds that must reach `target` on one measure (`reached`) and are
    judged by `accuracy` above it: any point that reaches the target beats every point that
    does not; below it, the nearer the target the better."""
    met = reached >= target
    return (met, accuracy if met else reached, accuracy)


def joint_start(start: Thresholds, score: Score, grid: dict[tuple[str, str], list[float]]) -> Thresholds:
    """The best point of the grid over the `JOINT` thresholds that `grid` searches (the
    first one found where several tie), the others kept as in `start`."""
    joint = [key for key in JOINT if key in grid]
    best, best_score = start, None
    for values in itertools.product(*(grid[key] for key in joint)):
        trial = start
        for (section, key), value in zip(joint, values, strict=True):
            trial = trial.with_value(section, key, value)
        result = score(trial)
        if best_score is None or result > best_score:
            best, best_score = trial, result
    return best


def search(start: Thresholds, score: Score, grid: dict[tuple[str, str], list[float]] = GRID) -> Thresholds:
    """The thresholds with the highest `score(thresholds)`: from the best point of the joint
    grid (`joint_start`), coordinate ascent over the grid. Where several values of a
    threshold score the same, the middle one of them is kept, so that a threshold sits in
    the middle of the gap the data leaves, not at its edge."""
    best = joint_start(start, score, grid)
    best_score = score(best)
    for _ in range(3):  # a few passes
        improved = False
        for (section, key), values in grid.items():
            results = []
            for value in values:
                results.append((score(best.with_value(section, key, value)), value))
            top = max(result for result, _ in results)
            if top < best_score:
                continue
            ties = [value for result, value in results if result == top]
            improved = improved or top > best_score
            best, best_score = best.with_value(section, key, ties[len(ties) // 2]), top
        if not improved:
            break
    return best


def fit(
    evidence: list[Evidence], labels: list[str], start: Thresholds, flows: Flows, target: float
) -> Thresholds:
    """Best accuracy among the thresholds whose answering routes reach `target` precision
    (below it, the best worst precision)."""

    def score(thresholds: Thresholds) -> tuple:
        m = metrics(labels, predict(evidence, thresholds, flows))
        return at_target(min(m["precision"].values()), target, m["accuracy"])

    return search(start, score)


def confusion_table(labels: list[str], predicted: list[str]) -> str:
    shown = [label for label in LABELS if label in labels or label in predicted]
    lines = ["| label \\ route | " + " | ".join(shown) + " |", "|---" * (len(shown) + 1) + "|"]
    counts = Counter(zip(labels, predicted, strict=True))
    for label in shown:
        if label in labels:
            lines.append(f"| {label} | " + " | ".join(str(counts[(label, p)]) for p in shown) + " |")
    return "\n".join(lines)


class LabelledError(ValueError):
    """A labelled set that cannot be used; the message says which rows."""


def load_rows(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    bad = [r for r in rows if r.get("label") not in LABELS[:4] or not r.get("text")]
    if bad:
        raise LabelledError(
            f"{path}: {len(bad)} rows without text or with a label other than {LABELS[:4]}: {bad[:2]}"
        )
    return rows
