"""`tandem gate calibrate` / `tandem gate eval`: fit the gate's thresholds from labelled
messages and report its route accuracy.

Each labelled message (``{"text", "label", "split"}``; labels flow, knowledge,
out_of_scope, chitchat) is parsed by the running Rasa server (its NLU, the gate's first
stage) and searched in the running knowledge base; the gate then decides offline for any
thresholds (bot/gate/calibration.py). Calibration keeps the best accuracy on the
calibration half among the thresholds whose precision on the answering routes reaches the
target, writes them to the brand's gate.yml, and prints the confusion matrix of both halves.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import requests

from bot.core.settings import Settings, get_settings
from bot.gate.calibration import LabelledError, confusion_table, fit, load_rows, metrics, predict
from bot.gate.evidence import Evidence, gather, nlu_ranking
from bot.gate.thresholds import load_thresholds, write_thresholds
from bot.stack.client import require_running


def collect(rows: list[dict[str, Any]], settings: Settings) -> list[Evidence]:
    """Evidence for each message from the running stack (Rasa NLU and the knowledge base),
    and the nearest NLU training example (computed here with the same embedding model)."""
    from bot.gate.neighbours import nlu_neighbours
    from knowledge.answer import Retrieval
    from knowledge.config import KnowledgeSettings
    from knowledge.embeddings import embedding_model
    from knowledge.store import Hit

    model = KnowledgeSettings().embedding_model
    opinions = nlu_neighbours(embedding_model(model), model).opinions([row["text"] for row in rows])
    numbers = settings.brand.order_numbers()

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
        query = row["text"]
        found = requests.get(
            f"{settings.actions_url}/kb/search", params={"q": query, "k": 5}, headers=headers, timeout=30
        )
        found.raise_for_status()
        evidence.append(
            gather(
                row["text"],
                nlu_ranking(parse.json().get("intent_ranking", [])),
                numbers=numbers,
                products=settings.brand.product_kinds(),
                retrieval=Retrieval(query, [Hit(**h) for h in found.json()]),
                opinion=opinions[number - 1],
            )
        )
        if number % 25 == 0:
            print(f"  {number}/{len(rows)} messages", file=sys.stderr, flush=True)
    return evidence


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


def main(args: argparse.Namespace) -> int:
    settings = get_settings()
    brand = settings.brand
    try:
        rows = load_rows(Path(args.data or brand.gate_labelled))
    except (LabelledError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    flows = brand.flows()
    require_running(settings)
    print(f"collecting NLU and retrieval evidence for {len(rows)} messages ...", file=sys.stderr)
    evidence = collect(rows, settings)
    halves = {
        name: [i for i, r in enumerate(rows) if r.get("split", "calibration") == name]
        for name in ("calibration", "test")
    }
    labels = [r["label"] for r in rows]
    thresholds = load_thresholds(brand.gate_file)
    if args.gate_command == "calibrate":
        cal = halves["calibration"] or list(range(len(rows)))
        thresholds = fit(
            [evidence[i] for i in cal], [labels[i] for i in cal], thresholds, flows, args.target_precision
        )
    fitted = thresholds.to_dict()
    report: dict[str, Any] = {
        "thresholds": {
            k: fitted[k] for k in ("nlu", "flow", "knowledge", "neighbours", "out_of_scope", "clarify")
        }
    }
    for name, index in halves.items():
        if not index:
            continue
        predicted = predict([evidence[i] for i in index], thresholds, flows)
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
        write_thresholds(thresholds, brand.gate_file)
        print(f"\nwrote the thresholds to {brand.gate_file}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate", help="the confidence gate: calibrate its thresholds, measure its routes")
    gsub = p.add_subparsers(dest="gate_command", required=True, metavar="ACTION")
    for name, helptext in (
        ("calibrate", "fit the thresholds from labelled messages (needs the running assistant)"),
        ("eval", "route accuracy and confusion matrix with the current thresholds"),
    ):
        q = gsub.add_parser(name, help=helptext)
        q.add_argument(
            "--data", help="JSONL of {text, label, split} (default: the brand's gate_labelled.jsonl)"
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
            q.add_argument(
                "--write", action="store_true", help="write the thresholds to the brand's gate.yml"
            )
        q.set_defaults(func=main)
