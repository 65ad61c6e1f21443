"""`tandem kb refresh | status | search | tune`.

When the stack is up, the action server owns the store, so the command asks it over HTTP
(the refresh applies to the live assistant at once). Otherwise it opens the store itself.
"""

from __future__ import annotations

import argparse
import atexit
import json
import sys
from pathlib import Path
from typing import Any

import requests

from bot.core.settings import current_brand, get_settings


def _server_up() -> bool:
    try:
        return requests.get(f"{get_settings().actions_url}/health", timeout=2).ok
    except requests.RequestException:
        return False


def _call(method: str, path: str, timeout: float = 600, **kwargs: Any) -> Any:
    settings = get_settings()
    headers = {"Authorization": f"Bearer {settings.rasa_token}"}
    answer = requests.request(
        method, f"{settings.actions_url}{path}", headers=headers, timeout=timeout, **kwargs
    )
    if not answer.ok:
        raise SystemExit(f"error: the action server answered {answer.status_code}: {answer.text[:300]}")
    return answer.json()


def _local():
    from knowledge.base import knowledge_base
    from knowledge.store import StoreError

    try:
        kb = knowledge_base()
    except (StoreError, RuntimeError) as error:
        raise SystemExit(f"error: {error}") from None
    atexit.register(kb.store.client.close)  # release the local store's lock cleanly
    return kb


def print_report(report: dict[str, Any], where: str) -> None:
    for problem in report["problems"]:
        print(f"  skipped {problem['path']}: {problem['reason']}")
    print(
        f"knowledge base refreshed {where} in {report['seconds']:.1f} s: "
        f"{len(report['added'])} added, {len(report['updated'])} updated, {len(report['removed'])} removed, "
        f"{len(report['unchanged'])} unchanged; {report['chunks_embedded']} chunks embedded, "
        f"{report['chunks_reused']} reused; {len(report['problems'])} files skipped"
    )
    for verb in ("added", "updated", "removed"):
        for source in report[verb]:
            print(f"  {verb:9} {source}")


def refresh(args: argparse.Namespace) -> int:
    if _server_up():
        report = _call("POST", "/kb/refresh", json={"rebuild": args.rebuild})
        where = "in the running assistant"
    else:
        from tqdm import tqdm

        kb = _local()
        bar = tqdm(total=0, unit="chunk", desc="embedding", disable=args.json or not sys.stderr.isatty())

        def progress(done: int, total: int, stage: str) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = kb.refresh(progress, rebuild=args.rebuild).to_dict()
        bar.close()
        where = f"in {kb.settings.qdrant_url or kb.settings.qdrant_path}"
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report, where)
    return 1 if report["problems"] and args.strict else 0


def status(args: argparse.Namespace) -> int:
    info = _call("GET", "/kb/status") if _server_up() else _local().status()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:16} {value}")
    return 0


def search(args: argparse.Namespace) -> int:
    if _server_up():
        hits = _call("GET", "/kb/search", params={"q": args.question, "k": args.k, "mode": args.mode})
    else:
        import dataclasses

        hits = [dataclasses.asdict(h) for h in _local().search(args.question, args.k, args.mode)]
    if args.json:
        print(json.dumps(hits, indent=2))
        return 0
    if not hits:
        print("no results (is the knowledge base empty? `tandem kb refresh`)")
    for rank, hit in enumerate(hits, start=1):
        meta = hit["metadata"]
        print(
            f"{rank}. {hit['score']:.3f}  {meta['title']}"
            + (f" > {meta['heading_path']}" if meta["heading_path"] else "")
        )
        print(f"   {meta['url']}  ({meta['source']})")
        body = hit["text"].split("\n\n", 1)[-1].replace("\n", " ")
        print(f"   {body[:200]}{'...' if len(body) > 200 else ''}")
    return 0


def tune(args: argparse.Namespace) -> int:
    """Tune the embedding model on labelled questions against the sources (knowledge/tune.py).
    Runs in this process over an in-memory copy of the sources: the live store is untouched
    until the assistant is pointed at the tuned model."""
    from tqdm import tqdm

    from knowledge.config import KnowledgeSettings, default_embedding_model, model_label, tuned_record
    from knowledge.embeddings import embedding_model
    from knowledge.loaders import load_sources
    from knowledge.ranking import fit_dense_weight, index_sources, read_jsonl
    from knowledge.tune import TuneOptions, mine_examples, tune

    settings = KnowledgeSettings()
    path = args.questions or current_brand().qa_file
    try:
        questions = read_jsonl(path)
        questions = [q for q in questions if q["question"].strip() and q["doc_id"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise SystemExit(
            f"error: cannot read labelled questions from {path} ({error}): "
            'one JSON object per line, {"question": "...", "doc_id": "path/of/the/document"}'
        ) from None
    record = tuned_record(settings.embedding_model)
    base = settings.embedding_model
    if record:  # tune the original, not a tuned copy (a folder since moved: the packaged default)
        original = Path(record["base"])
        base = (
            default_embedding_model() if original.is_absolute() and not original.exists() else record["base"]
        )
    documents, _ = load_sources(settings.sources, settings.max_file_bytes)
    known = {d.path for d in documents}
    unknown = sorted({q["doc_id"] for q in questions} - known)
    for doc in unknown:
        print(f"  skipped questions about {doc}: no such document in {settings.sources}")
    questions = [q for q in questions if q["doc_id"] in known]
    if len(questions) < 2:
        raise SystemExit(
            f"error: {len(questions)} usable labelled questions in {path}; tuning needs 2 or more"
        )
    print(f"indexing {len(documents)} documents with {model_label(base)} ...", flush=True)
    store, _ = index_sources(documents, embedding_model(base, settings.embedding_batch_size))
    options = TuneOptions(epochs=args.epochs)
    examples, _ = mine_examples(store, questions, options.hard_negatives)
    weight, mrr = fit_dense_weight(store, questions)
    print(f"hybrid search's dense weight, fitted on these questions: {weight} (MRR {mrr:.3f})")
    store.client.close()
    out = args.out or get_settings().home / "models" / "embedder"
    bar = tqdm(total=0, unit="batch", desc="tuning", disable=not sys.stderr.isatty())

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        result = tune(base, examples, out, options, progress, {"dense_weight": weight})
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    finally:
        bar.close()
    print(
        f"tuned {model_label(base)} on {result['questions']} questions in {result['seconds']} s "
        f"(loss per epoch {result['loss_per_epoch']}): {out}\n"
        f"to use it: TANDEM_EMBEDDING_MODEL={out} in .env, then `tandem kb refresh` (the store is rebuilt "
        "with it) and `tandem gate calibrate --write` (the gate's thresholds are this model's similarities).\n"
        f"to measure it first: `tandem bench retrieval --corpus brand --tune 4` (cross-validated)"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kb", help="the knowledge base: refresh from the brand's sources/, status, search")
    ksub = p.add_subparsers(dest="kb_command", required=True, metavar="ACTION")
    q = ksub.add_parser(
        "refresh", help="sync the store with the brand's sources/ (incremental; live if the stack is up)"
    )
    q.add_argument("--rebuild", action="store_true", help="drop the store and re-embed everything")
    q.add_argument("--json", action="store_true", help="print the report as JSON")
    q.add_argument("--strict", action="store_true", help="exit 1 if any file was skipped")
    q.set_defaults(func=refresh)
    q = ksub.add_parser("status", help="documents, chunks, last refresh, embedding model")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=status)
    q = ksub.add_parser("search", help="the passages that best answer a question, with scores and sources")
    q.add_argument("question")
    q.add_argument("-k", type=int, default=5, help="how many passages (default 5)")
    q.add_argument(
        "--mode",
        choices=["hybrid", "dense", "sparse"],
        default="hybrid",
        help="retrieval mode (default hybrid)",
    )
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=search)
    q = ksub.add_parser(
        "tune",
        help="tune the embedding model on labelled questions (each with the document that answers it)",
        description="Tune a copy of the embedding model on labelled customer questions, each with the "
        "document of the brand's sources/ that answers it. Minutes on a CPU; the running assistant is "
        "untouched until TANDEM_EMBEDDING_MODEL points at the result.",
    )
    q.add_argument(
        "--questions",
        type=Path,
        help='JSON lines {"question", "doc_id", optional "also": [doc ids]} (default: the brand\'s qa.jsonl)',
    )
    q.add_argument("--out", type=Path, help="folder for the tuned model (default: .tandem/models/embedder)")
    q.add_argument("--epochs", type=int, default=3, help="passes over the questions (default %(default)s)")
    q.set_defaults(func=tune)
