"""`tandem gate calibrate` / `tandem gate eval`: fit the gate's thresholds from labelled
messages and report its route accuracy.

Each labelled message (``{"text", "label", "split"}``; labels flow, knowledge,
out_of_scope, chitchat) is parsed by the running Rasa server (its NLU, the gate's first
stage) and searched in the running knowledge base; the gate then decides offline for any
thresholds. Calibration searches the thresholds (a joint grid over three of them, then
coordinate ascent over all) for the
best accuracy on the calibration half among those whose precision on the answering routes
(flow and knowledge) reaches the target, writes them to bot/brand/gate.yml, and prints
the confusion matrix of both halves.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from bot import gate
from bot.chat import require_running
from bot.gate import CHITCHAT_INTENTS, FLOW_INTENTS, Evidence
from bot.settings import BRAND_DIR, Settings, get_settings

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
    ("neighbours", "min_similarity_intent"): [round(0.75 + 0.025 * i, 3) for i in range(11)],
    ("neighbours", "min_similarity_agreeing"): [round(0.6 + 0.025 * i, 3) for i in range(13)],
    ("neighbours", "min_similarity_veto"): [round(0.8 + 0.025 * i, 3) for i in range(9)],
    ("neighbours", "max_similarity_out_of_scope"): [round(0.2 + 0.025 * i, 3) for i in range(13)],
    ("out_of_scope", "min_confidence"): [round(0.2 + 0.1 * i, 2) for i in range(8)],
    ("clarify", "min_candidate"): [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5],
    ("clarify", "min_dense_titles"): [0.0] + [round(0.2 + 0.025 * i, 3) for i in range(13)],
}


def label_of(decision: gate.Decision) -> str:
    """The label a route earns: a scripted answer to a question counts as knowledge."""
    if decision.route == "flow":
        if decision.intent in FLOW_INTENTS:
            return "flow"
        return "chitchat" if decision.intent in CHITCHAT_INTENTS else "knowledge"
    if decision.route == "handoff":
        return "clarify"
    return decision.route


def collect(rows: list[dict[str, Any]], settings: Settings) -> list[Evidence]:
    """Evidence for each message from the running stack (Rasa NLU and the knowledge base),
    and the nearest NLU training example (computed here with the same embedding model)."""
    from bot.neighbours import nlu_neighbours
    from knowledge.answer import Retrieval, search_query
    from knowledge.config import KnowledgeSettings
    from knowledge.embeddings import embedding_model
    from knowledge.store import Hit

    model = KnowledgeSettings().embedding_model
    opinions = nlu_neighbours(embedding_model(model), model).opinions([row["text"] for row in rows])

    headers = {"Authorization": f"Bearer {settings.rasa_token}"}
    evidence = []
    for number, row in enumerate(rows, start=1):
        parse = requests.post(
            f"{settings.rasa_url}/model/parse",
            params={"token": settings.rasa_token},
            json={"text": row["text"]},
            timeout=30,
        )
        parse.raise_for_status()
        ranking = [
            (r["name"], float(r["confidence"]))
            for r in parse.json().get("intent_ranking", [])
            if r["name"] != "nlu_fallback"
        ]
        query = search_query(row["text"], [])
        found = requests.get(
            f"{settings.actions_url}/kb/search", params={"q": query, "k": 5}, headers=headers, timeout=30
        )
        found.raise_for_status()
        retrieval = Retrieval(query, [Hit(**h) for h in found.json()])
        evidence.append(
            Evidence(
                text=row["text"],
                intent_ranking=ranking,
                dense_top=retrieval.dense_top,
                dense_margin=retrieval.dense_margin,
                sparse_top=retrieval.sparse_top,
                agree=retrieval.agree,
                top_sources=retrieval.sources()[:3],
                top_titles=retrieval.titles()[:3],
                nn_intent=opinions[number - 1].nn_intent,
                nn_similarity=opinions[number - 1].nn_similarity,
                clf_ranking=opinions[number - 1].ranking,
            )
        )
        if number % 25 == 0:
            print(f"  {number}/{len(rows)} messages", file=sys.stderr, flush=True)
    return evidence


def predict(evidence: list[Evidence], thresholds: dict[str, Any]) -> list[str]:
    return [label_of(gate.decide(e, thresholds, handoff_after=10**6)) for e in evidence]


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


def joint_start(start: dict[str, Any], score, grid: dict[tuple[str, str], list[float]]) -> dict[str, Any]:
    """The best point of the grid over the `JOINT` thresholds that `grid` searches (the
    first one found where several tie), the others kept as in `start`."""
    joint = [key for key in JOINT if key in grid]
    best, best_score = copy.deepcopy(start), None
    for values in itertools.product(*(grid[key] for key in joint)):
        trial = copy.deepcopy(start)
        for (section, key), value in zip(joint, values, strict=True):
            trial.setdefault(section, {})[key] = value
        result = score(trial)
        if best_score is None or result > best_score:
            best, best_score = trial, result
    return best


def search(start: dict[str, Any], score, grid: dict[tuple[str, str], list[float]] = GRID) -> dict[str, Any]:
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
                trial = copy.deepcopy(best)
                trial.setdefault(section, {})[key] = value
                results.append((score(trial), value))
            top = max(result for result, _ in results)
            if top < best_score:
                continue
            ties = [value for result, value in results if result == top]
            trial = copy.deepcopy(best)
            trial.setdefault(section, {})[key] = ties[len(ties) // 2]
            improved = improved or top > best_score
            best, best_score = trial, top
        if not improved:
            break
    return best


def fit(evidence: list[Evidence], labels: list[str], start: dict[str, Any], target: float) -> dict[str, Any]:
    """Best accuracy among the thresholds whose answering routes reach `target` precision
    (below it, the best worst precision)."""

    def score(thresholds: dict[str, Any]) -> tuple:
        m = metrics(labels, predict(evidence, thresholds))
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


def print_errors(evidence: list[Evidence], labels: list[str], predicted: list[str]) -> None:
    """Each misrouted message with the evidence the gate saw."""
    for ev, label, route in zip(evidence, labels, predicted, strict=True):
        if label == route:
            continue
        ranking = ", ".join(f"{i} {c:.2f}" for i, c in ev.intent_ranking[:2])
        if ev.clf_ranking:
            ranking += "; embedding classifier " + ", ".join(f"{i} {c:.2f}" for i, c in ev.clf_ranking[:2])
        dense = "-" if ev.dense_top is None else f"{ev.dense_top:.2f}"
        near = "-" if ev.nn_similarity is None else f"{ev.nn_intent} {ev.nn_similarity:.2f}"
        print(
            f"  {label} -> {route}: {ev.text!r} [NLU {ranking}; dense {dense}; agree {ev.agree}; nearest {near}]"
        )


def write_thresholds(thresholds: dict[str, Any], path: Path) -> None:
    """Put the fitted values into the file, keeping its layout and comments."""
    section = None
    out = []
    for line in path.read_text().splitlines():
        top = re.match(r"^([a-z_]+):", line)
        if top:
            section = top.group(1)
        value = re.match(r"^(\s+)([a-z_]+):(\s*)(-?[0-9.]+)(.*)$", line)
        if value and section in thresholds and value.group(2) in thresholds[section]:
            new = thresholds[section][value.group(2)]
            line = f"{value.group(1)}{value.group(2)}:{value.group(3)}{new}{value.group(5)}"
        out.append(line)
    path.write_text("\n".join(out) + "\n")


def load_rows(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    bad = [r for r in rows if r.get("label") not in LABELS[:4] or not r.get("text")]
    if bad:
        raise SystemExit(
            f"error: {len(bad)} rows without text or with a label other than {LABELS[:4]}: {bad[:2]}"
        )
    return rows


def main(args: argparse.Namespace) -> int:
    rows = load_rows(Path(args.data))
    settings = get_settings()
    require_running(settings)
    print(f"collecting NLU and retrieval evidence for {len(rows)} messages ...", file=sys.stderr)
    evidence = collect(rows, settings)
    halves = {
        name: [i for i, r in enumerate(rows) if r.get("split", "calibration") == name]
        for name in ("calibration", "test")
    }
    labels = [r["label"] for r in rows]
    thresholds = gate.load_thresholds()
    if args.gate_command == "calibrate":
        cal = halves["calibration"] or list(range(len(rows)))
        thresholds = fit(
            [evidence[i] for i in cal], [labels[i] for i in cal], thresholds, args.target_precision
        )
    report: dict[str, Any] = {
        "thresholds": {
            k: thresholds[k]
            for k in ("nlu", "flow", "knowledge", "neighbours", "out_of_scope", "clarify")
            if k in thresholds
        }
    }
    for name, index in halves.items():
        if not index:
            continue
        predicted = predict([evidence[i] for i in index], thresholds)
        truth = [labels[i] for i in index]
        m = metrics(truth, predicted)
        report[name] = {**m, "confusion": dict(m["confusion"])}
        print(
            f"\n{name} half: {m['messages']} messages, route accuracy {m['accuracy']}, precision {m['precision']}"
        )
        print(confusion_table(truth, predicted))
        if args.errors:
            print_errors([evidence[i] for i in index], truth, predicted)
    if args.gate_command == "calibrate" and args.write:
        write_thresholds(thresholds, BRAND_DIR / "gate.yml")
        print(f"\nwrote the thresholds to {BRAND_DIR / 'gate.yml'}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate", help="the confidence gate: calibrate its thresholds, measure its routes")
    gsub = p.add_subparsers(dest="gate_command", required=True, metavar="ACTION")
    default = str(BRAND_DIR / "gate_labelled.jsonl")
    for name, helptext in (
        ("calibrate", "fit the thresholds from labelled messages (needs the running assistant)"),
        ("eval", "route accuracy and confusion matrix with the current thresholds"),
    ):
        q = gsub.add_parser(name, help=helptext)
        q.add_argument(
            "--data", default=default, help="JSONL of {text, label, split} (default: the brand's set)"
        )
        q.add_argument("--json", help="also write the report to this file")
        q.add_argument("--errors", action="store_true", help="list each misrouted message with its evidence")
        if name == "calibrate":
            q.add_argument(
                "--target-precision",
                type=float,
                default=0.95,
                help="precision the answering routes must reach",
            )
            q.add_argument("--write", action="store_true", help="write the thresholds to bot/brand/gate.yml")
        q.set_defaults(func=main)
