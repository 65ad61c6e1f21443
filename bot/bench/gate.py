"""`tandem bench gate --dataset FILE`: in-scope accuracy and out-of-scope recall of the
project's NLU and gate, beside stock Rasa's, on an intent dataset in CLINC150's format.

The dataset is JSON with keys train, val, test, oos_train, oos_val, oos_test; each a list
of ``[text, intent]`` rows (``../shared/datasets/clinc150/data_full.json`` or the faster
``data_small.json``). Both systems learn from the same rows: train, plus oos_train as an
``out_of_scope`` intent.

- **stock Rasa**: `rasa init`'s default pipeline (Rasa's own default_config.yml, DIET 100
  epochs, FallbackClassifier 0.3). A message is out of scope when Rasa says
  ``nlu_fallback`` or ``out_of_scope``.
- **the project**: the brand's config.yml pipeline, then the gate (bot/gate/, with the
  brand's flows.yml as in the assistant) with its nearest-training-example signal and
  embedding classifier (bot/gate/neighbours.py, the knowledge base's sentence model). The gate's thresholds, and the weight of the
  embedding classifier in the intent ranking, are fitted on val + oos_val, never on the
  test rows: the best in-scope accuracy among those that catch ``--min-oos-recall`` of
  val's out-of-scope messages (the rule of `tandem gate calibrate`: best accuracy at a
  target precision), by the same coordinate ascent.

Reported on test + oos_test: in-scope accuracy (the right intent, and not called out of
scope) and out-of-scope recall, plus training and parsing times. Training DIET on the full
CLINC150 takes a long time on a 2-core CPU; ``--max-per-intent`` trains on fewer rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bot.bench.report import OUT_DIR, provenance, write_report
from bot.core.settings import BOT_DIR, ROOT, current_brand, get_settings

KEYS = ("train", "val", "test", "oos_train", "oos_val", "oos_test")
OOS = "out_of_scope"
PARSER = BOT_DIR / "rasa_side" / "nlu_parse.py"
# the gate's thresholds the benchmark fits (no documents: the knowledge ones do not apply)
GATE_GRID_KEYS = (
    ("nlu", "embedding_weight"),
    ("flow", "min_confidence"),
    ("flow", "min_margin"),
    ("neighbours", "min_similarity_intent"),
    ("neighbours", "min_similarity_agreeing"),
    ("neighbours", "min_similarity_veto"),
    ("neighbours", "max_similarity_out_of_scope"),
    ("out_of_scope", "min_confidence"),
)


MIN_OOS_RECALL = 0.95  # on val, when the gate's thresholds are fitted


class DatasetError(Exception):
    pass


def load_dataset(path: Path, max_per_intent: int | None = None, seed: int = 42) -> dict[str, list]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DatasetError(f"cannot read {path}: {error}") from None
    missing = [k for k in KEYS if k not in data]
    if missing:
        raise DatasetError(f"{path} lacks {', '.join(missing)} (CLINC150 format: keys {', '.join(KEYS)})")
    for key in KEYS:
        bad = [row for row in data[key] if not (isinstance(row, list) and len(row) == 2 and row[0])]
        if bad:
            raise DatasetError(f"{path}: {key} has rows that are not [text, intent], e.g. {bad[0]!r}")
    if max_per_intent:
        rng = random.Random(seed)
        by_intent: dict[str, list] = {}
        for row in data["train"]:
            by_intent.setdefault(row[1], []).append(row)
        data["train"] = [
            r for rows in by_intent.values() for r in rng.sample(rows, min(len(rows), max_per_intent))
        ]
    return data


def clean(text: str) -> str:
    """Text Rasa's YAML reader takes literally (no entity annotation syntax)."""
    return re.sub(r"[\[\]{}()]", " ", " ".join(str(text).split())).strip()


def intent_name(name: str) -> str:
    return OOS if name == "oos" else re.sub(r"[^A-Za-z0-9_]", "_", name)


def training_rows(data: dict[str, list]) -> list[tuple[str, str]]:
    rows = [(clean(t), intent_name(i)) for t, i in data["train"]]
    rows += [(clean(t), OOS) for t, _ in data["oos_train"]]
    return [(t, i) for t, i in rows if t]


def write_nlu(rows: list[tuple[str, str]], path: Path) -> None:
    by_intent: dict[str, list[str]] = {}
    for text, intent in rows:
        by_intent.setdefault(intent, []).append(text)
    nlu = [
        {"intent": intent, "examples": "".join(f"- {t}\n" for t in dict.fromkeys(texts))}
        for intent, texts in by_intent.items()
    ]
    path.write_text(yaml.safe_dump({"version": "3.1", "nlu": nlu}, sort_keys=False, width=10**6))


def stock_config(rasa_venv: Path) -> dict[str, Any]:
    """`rasa init`'s default pipeline, as Rasa itself ships it."""
    found = list(
        rasa_venv.glob("lib/python3*/site-packages/rasa/engine/recipes/config_files/default_config.yml")
    )
    if not found:
        raise DatasetError(f"Rasa's default_config.yml not found in {rasa_venv}: run `make setup`")
    config = yaml.safe_load(found[0].read_text())
    return {"recipe": "default.v1", "language": "en", "pipeline": config["pipeline"], "policies": []}


def project_config() -> dict[str, Any]:
    config = yaml.safe_load(current_brand().config.read_text())
    return {"recipe": "default.v1", "language": "en", "pipeline": config["pipeline"], "policies": []}


def train_nlu(
    rasa_venv: Path, config: dict, nlu: Path, out: Path, name: str, log: Path
) -> tuple[float, bool]:
    """Train one NLU model into `out`; (training seconds, reused). With --keep, a model
    already trained there on the same rows and config is reused, with its recorded time,
    so a long run (stock DIET on the full CLINC150) is paid once."""
    config_path = out / f"{name}-config.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    digest = hashlib.sha256(config_path.read_bytes() + b"\0" + nlu.read_bytes()).hexdigest()
    record, model = out / f"{name}.trained.json", out / f"{name}.tar.gz"
    if record.exists() and model.exists():
        previous = json.loads(record.read_text())
        if previous.get("inputs") == digest:
            print(f"{name}: reusing {model}, trained on the same rows and config", flush=True)
            return float(previous["train_s"]), True
    started = time.monotonic()
    with log.open("a") as handle:
        result = subprocess.run(
            [
                str(rasa_venv / "bin" / "rasa"),
                "train",
                "nlu",
                "--config",
                str(config_path),
                "--nlu",
                str(nlu),
                "--out",
                str(out),
                "--fixed-model-name",
                name,
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LOG_LEVEL": "INFO"},  # INFO: DIET's epoch progress bar goes to the log
        )
    if result.returncode != 0:
        raise RuntimeError(f"training {name} failed: see {log}")
    seconds = time.monotonic() - started
    record.write_text(json.dumps({"inputs": digest, "train_s": round(seconds, 1)}) + "\n")
    return seconds, False


def parse(rasa_venv: Path, model: Path, texts: list[str], work: Path, name: str) -> tuple[list[dict], float]:
    texts_path, out_path = work / f"{name}-texts.json", work / f"{name}-parsed.jsonl"
    texts_path.write_text(json.dumps(texts))
    started = time.monotonic()
    subprocess.run(
        [str(rasa_venv / "bin" / "python"), str(PARSER), str(model), str(texts_path), str(out_path)],
        check=True,
    )
    seconds = time.monotonic() - started
    return [json.loads(line) for line in out_path.read_text().splitlines()], seconds


def scores(truth: list[str], predicted: list[str]) -> dict[str, float]:
    """In-scope accuracy (the right intent) and out-of-scope recall."""
    pairs = list(zip(truth, predicted, strict=True))
    inside = [(t, p) for t, p in pairs if t != OOS]
    outside = [(t, p) for t, p in pairs if t == OOS]
    return {
        "in_scope_accuracy": round(sum(t == p for t, p in inside) / len(inside), 4) if inside else 0.0,
        "out_of_scope_recall": round(sum(p == OOS for _, p in outside) / len(outside), 4) if outside else 0.0,
        "in_scope_messages": len(inside),
        "out_of_scope_messages": len(outside),
    }


def stock_predictions(parsed: list[dict]) -> list[str]:
    return [OOS if p["intent"] in (None, "nlu_fallback", OOS) else p["intent"] for p in parsed]


def gate_evidence(texts: list[str], parsed: list[dict], opinions: list):
    from bot.gate.evidence import gather, nlu_ranking

    numbers = current_brand().order_numbers()
    products = current_brand().product_kinds()
    return [
        gather(text, nlu_ranking(p["ranking"]), numbers=numbers, products=products, opinion=opinion)
        for text, p, opinion in zip(texts, parsed, opinions, strict=True)
    ]


def gate_predictions(evidence: list, thresholds, flows) -> list[str]:
    from bot.gate.decide import decide

    predicted = []
    for ev in evidence:
        decision = decide(ev, thresholds, flows, handoff_after=10**6)
        predicted.append(decision.intent if decision.route == "flow" and decision.intent else OOS)
    return predicted


def fit_gate(
    evidence: list, truth: list[str], min_oos_recall: float = MIN_OOS_RECALL, classifier: bool = True
):
    """The thresholds with the best in-scope accuracy on val among those that catch at least
    `min_oos_recall` of its out-of-scope messages (below that, the best recall): the same
    rule as `tandem gate calibrate`, best accuracy at a target precision of the answers.
    `classifier=False`: the embedding classifier's weight stays 0 (to measure what it adds)."""
    from bot.gate.calibration import GRID, at_target, search
    from bot.gate.thresholds import load_thresholds

    flows = current_brand().flows()

    def score(thresholds) -> tuple:
        s = scores(truth, gate_predictions(evidence, thresholds, flows))
        return at_target(s["out_of_scope_recall"], min_oos_recall, s["in_scope_accuracy"])

    start, keys = load_thresholds(current_brand().gate_file), GATE_GRID_KEYS
    if not classifier:
        start = start.with_value("nlu", "embedding_weight", 0.0)
        keys = tuple(k for k in keys if k != ("nlu", "embedding_weight"))
    return search(start, score, {key: GRID[key] for key in keys})


def run(
    dataset: Path,
    max_per_intent: int | None,
    systems: tuple[str, ...],
    keep: Path | None,
    min_oos_recall: float = MIN_OOS_RECALL,
) -> dict[str, Any]:
    from bot.gate.neighbours import Neighbours
    from knowledge.config import KnowledgeSettings, model_label
    from knowledge.embeddings import embedding_model

    settings = get_settings()
    data = load_dataset(dataset, max_per_intent)
    rows = training_rows(data)
    val = [(clean(t), intent_name(i)) for t, i in data["val"]] + [(clean(t), OOS) for t, _ in data["oos_val"]]
    test = [(clean(t), intent_name(i)) for t, i in data["test"]] + [
        (clean(t), OOS) for t, _ in data["oos_test"]
    ]
    results: dict[str, Any] = {
        "dataset": str(dataset.relative_to(ROOT.parent) if dataset.is_relative_to(ROOT.parent) else dataset),
        "training_rows": len(rows),
        "intents": len({i for _, i in rows}),
        "max_per_intent": max_per_intent,
        "val_messages": len(val),
        "test_messages": len(test),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        nlu = work / "nlu.yml"
        write_nlu(rows, nlu)
        log = work / "train.log"
        print(
            f"{len(rows)} training rows, {results['intents']} intents; training progress: tail -f {log}",
            flush=True,
        )
        if "stock" in systems:
            print("stock Rasa: training (rasa init's default pipeline) ...", flush=True)
            seconds, reused = train_nlu(
                settings.rasa_venv, stock_config(settings.rasa_venv), nlu, work, "stock", log
            )
            parsed, parse_s = parse(
                settings.rasa_venv, work / "stock.tar.gz", [t for t, _ in test], work, "stock"
            )
            results["stock_rasa"] = {
                **scores([i for _, i in test], stock_predictions(parsed)),
                "train_s": round(seconds, 1),
                "model_reused": reused,
                "parse_ms_per_message": round(1000 * parse_s / len(test), 1),
            }
            print(f"stock Rasa: {results['stock_rasa']}", flush=True)
        if "project" in systems:
            print("project: training config.yml's pipeline ...", flush=True)
            seconds, reused = train_nlu(settings.rasa_venv, project_config(), nlu, work, "project", log)
            texts = [t for t, _ in val] + [t for t, _ in test]
            parsed, parse_s = parse(settings.rasa_venv, work / "project.tar.gz", texts, work, "project")
            model = KnowledgeSettings().embedding_model
            print(
                f"project: nearest examples and embedding classifier ({model_label(model)}) ...", flush=True
            )
            started = time.monotonic()
            neighbours = Neighbours(embedding_model(model), rows)
            opinions = neighbours.opinions(texts)
            nn_s = time.monotonic() - started
            evidence = gate_evidence(texts, parsed, opinions)
            val_ev, test_ev = evidence[: len(val)], evidence[len(val) :]
            flows = current_brand().flows()
            thresholds = fit_gate(val_ev, [i for _, i in val], min_oos_recall)
            fitted = {k: thresholds.to_dict()[k] for k in ("nlu", "flow", "neighbours", "out_of_scope")}
            alone = fit_gate(val_ev, [i for _, i in val], min_oos_recall, classifier=False)
            results["project"] = {
                **scores([i for _, i in test], gate_predictions(test_ev, thresholds, flows)),
                "nlu_only": scores([i for _, i in test], stock_predictions(parsed[len(val) :])),
                "without_classifier": scores([i for _, i in test], gate_predictions(test_ev, alone, flows)),
                "val": scores([i for _, i in val], gate_predictions(val_ev, thresholds, flows)),
                "thresholds": fitted,
                "fitted_for": f"best in-scope accuracy on val with out-of-scope recall >= {min_oos_recall}",
                "train_s": round(seconds, 1),
                "model_reused": reused,
                "parse_ms_per_message": round(1000 * parse_s / len(texts), 1),
                "neighbours_s": round(nn_s, 1),
                "embedding_model": model_label(model),
            }
            print(f"project: {results['project']}", flush=True)
    return results


def table(results: dict[str, Any]) -> str:
    lines = [
        "| system | in-scope accuracy | out-of-scope recall | training | parse per message (with model load) |",
        "|---|---|---|---|---|",
    ]
    names = {
        "stock_rasa": "stock Rasa (default pipeline, FallbackClassifier 0.3)",
        "project": "project: NLU + gate",
    }
    for key, label in names.items():
        if key in results:
            r = results[key]
            lines.append(
                f"| {label} | {r['in_scope_accuracy']:.3f} | {r['out_of_scope_recall']:.3f} | "
                f"{r['train_s']} s{' (model reused from --keep)' if r.get('model_reused') else ''} | "
                f"{r['parse_ms_per_message']} ms |"
            )
    if "project" in results:
        for key, label in (
            ("without_classifier", "project: NLU + gate without the embedding classifier (weight 0)"),
            ("nlu_only", "project's NLU alone (no gate)"),
        ):
            r = results["project"].get(key)
            if r:
                lines.append(
                    f"| {label} | {r['in_scope_accuracy']:.3f} | {r['out_of_scope_recall']:.3f} | | |"
                )
    return "\n".join(lines)


def write(results: dict[str, Any], name: str) -> None:
    subset = (
        f", at most {results['max_per_intent']} training rows per intent" if results["max_per_intent"] else ""
    )
    lines = [
        f"# Out-of-scope detection: {results['dataset']}",
        "",
        f"`{results['command']}` on {results['machine']}, commit {results['commit']}, {results['date']}.",
        "",
        f"{results['training_rows']} training rows ({results['intents']} intents with out_of_scope{subset}); "
        f"test: {results['test_messages']} messages.",
        "",
        table(results),
    ]
    if "project" in results:
        lines += [
            "",
            f"The gate's thresholds, fitted on val + oos_val ({results['project']['fitted_for']}): "
            f"`{json.dumps(results['project']['thresholds'])}`; "
            f"on val they give {results['project']['val']['in_scope_accuracy']:.3f} / "
            f"{results['project']['val']['out_of_scope_recall']:.3f}.",
        ]
    write_report(name, "\n".join(lines), results)


def main(args: argparse.Namespace) -> int:
    dataset = Path(args.dataset)
    systems = tuple(s for s in ("stock", "project") if s not in (args.skip or []))
    try:
        results = run(
            dataset, args.max_per_intent, systems, Path(args.keep) if args.keep else None, args.min_oos_recall
        )
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    results.update({**provenance(), "command": "tandem bench gate " + " ".join(sys.argv[3:])})
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if args.save:
        stem = dataset.stem.replace("data_", "")
        name = f"gate-{dataset.parent.name}-{stem}" + (
            f"-{args.max_per_intent}" if args.max_per_intent else ""
        )
        write(results, name)
        print(f"wrote {OUT_DIR / name}.md and .json")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gate",
        help="in-scope accuracy and out-of-scope recall vs stock Rasa on a CLINC150-format dataset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", required=True, help="JSON with train/val/test/oos_train/oos_val/oos_test")
    p.add_argument("--max-per-intent", type=int, help="train on at most this many rows per intent (faster)")
    p.add_argument("--skip", action="append", choices=["stock", "project"], help="leave a system out")
    p.add_argument(
        "--keep",
        help="keep the training data, models and logs in this folder; a later run with the same "
        "folder reuses a model trained there on the same rows and config",
    )
    p.add_argument(
        "--min-oos-recall",
        type=float,
        default=MIN_OOS_RECALL,
        help="the gate's thresholds are fitted on val for the best in-scope accuracy with at least this "
        "out-of-scope recall (default %(default)s)",
    )
    p.add_argument("--save", action="store_true", help="write docs/benchmarks/gate-<dataset>.md and .json")
    p.add_argument("--json", help="also write the results to this file")
    p.set_defaults(func=main)
