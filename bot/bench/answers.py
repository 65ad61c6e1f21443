"""`tandem bench answers`: the brand's QA set through the running assistant, over REST.

Each question is sent as the first message of a new conversation. A reply counts as:
- **correct**: a knowledge answer citing the question's document (and containing its
  expected `fact` when the QA row has one), or a scripted reply that contains the fact;
- **wrong**: a knowledge answer citing other documents only (or missing the fact);
- **declined**: clarify, out of scope, handoff, or the "please rephrase" fallback;
- **sent to a flow**: NLU read the question as a request and a scripted flow started (or
  a scripted reply without the expected fact was sent): not an answer to the question.
Independently of the bot's own check, every fact of every knowledge answer sent is looked
up in the full text of the documents it cites: **unsupported facts sent** must be 0.
Knowledge-turn latency is the REST round trip; the answer cache is emptied first
(`--keep-cache` times cached answers).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path
from typing import Any

from bot.bench.report import OUT_DIR, latency_ms, provenance, write_report
from bot.core.settings import Settings, current_brand, get_settings
from bot.stack.client import require_running, send


def source_texts() -> dict[str, str]:
    from knowledge.config import KnowledgeSettings
    from knowledge.loaders import load_sources

    settings = KnowledgeSettings()
    documents, _ = load_sources(settings.sources, settings.max_file_bytes)
    return {d.path: d.text + "\n" + "\n".join(f"{q}\n{a}" for q, a in d.faq) for d in documents}


def ask(settings: Settings, question: str) -> tuple[list[dict[str, Any]], float]:
    """The replies to `question` as the first message of a new conversation, and the time."""
    started = time.perf_counter()
    messages = send(settings, f"bench-{uuid.uuid4().hex[:10]}", question, timeout=120)
    return messages, time.perf_counter() - started


def judge(
    row: dict[str, Any], messages: list[dict[str, Any]], texts: dict[str, str], names: list[str]
) -> dict:
    from knowledge.ranking import answering_documents
    from knowledge.verify import fact_keys, fact_supported, facts

    meta = next(
        (m["custom"] for m in messages if isinstance(m.get("custom"), dict) and "route" in m["custom"]), {}
    )
    text = " ".join(m.get("text") or "" for m in messages)
    route = meta.get("route", "flow")  # scripted flows answer without the gate's message
    result = {"question": row["question"], "route": route, "text": text, "unsupported": []}
    if route == "knowledge":
        cited = [c["source"] for c in meta.get("citations", [])]
        keys = fact_keys([texts.get(s, "") for s in cited], names)
        answer_text = next((m.get("text") or "" for m in messages if m.get("text")), "")
        result["unsupported"] = [f.text for f in facts(answer_text, names) if not fact_supported(f, keys)]
        answering = set(answering_documents(row))
        right = bool(answering & set(cited)) and (not row.get("fact") or row["fact"].lower() in text.lower())
        result["outcome"] = "correct" if right else "wrong"
        result["cited"] = cited
        result["mode"] = meta.get("mode")
    elif route == "flow":
        if row.get("fact") and row["fact"].lower() in text.lower():
            result["outcome"] = "correct"  # a scripted reply that says it
        elif text.strip().startswith(_fallback_text()):
            result["outcome"] = "declined"
        else:
            result["outcome"] = "flow"  # a form started, or a scripted reply: not this answer
    else:
        result["outcome"] = "declined"
    return result


def _fallback_text() -> str:
    from actions import nlg

    return nlg.responses()["utter_rephrase"][0]["text"].split(".")[0]  # its first sentence


def main(args: argparse.Namespace) -> int:
    settings = get_settings()
    require_running(settings)
    data = Path(args.data) if args.data else current_brand().qa_file
    rows = [json.loads(line) for line in data.read_text().splitlines() if line.strip()]
    texts, names = source_texts(), current_brand().product_names()
    if not args.keep_cache:  # time answers being made, not answers read back from Redis
        from actions.services import redis_client
        from knowledge.answer_cache import AnswerCache

        print(f"cleared {AnswerCache(redis_client()).clear()} cached answer keys", flush=True)
    results, latencies = [], []
    for row in rows:
        messages, seconds = ask(settings, row["question"])
        result = judge(row, messages, texts, names)
        results.append(result)
        if result["route"] == "knowledge":
            latencies.append(seconds)
    counts = {k: sum(r["outcome"] == k for r in results) for k in ("correct", "wrong", "declined", "flow")}
    unsupported = sum(len(r["unsupported"]) for r in results)
    summary = {
        "questions": len(rows),
        **counts,
        "correct_share": round(counts["correct"] / len(rows), 3),
        "unsupported_facts_sent": unsupported,
        "routes": {
            route: sum(r["route"] == route for r in results)
            for route in sorted({r["route"] for r in results})
        },
        "knowledge_modes": {
            mode: sum(r.get("mode") == mode for r in results)
            for mode in sorted({r["mode"] for r in results if r.get("mode")})
        },
        **(latency_ms(latencies, "knowledge_turn_") if latencies else {}),
    }
    print(json.dumps(summary, indent=2))
    for r in results:
        if r["outcome"] != "correct" or r["unsupported"]:
            print(
                f"  {r['outcome']:8} {r['route']:12} {r['question'][:60]!r} -> {r['text'][:90]!r} {r['unsupported'] or ''}"
            )
    if args.save or args.out:
        report = {**provenance(), "summary": summary, "results": results}
        out = Path(args.out) if args.out else OUT_DIR / "answers.json"
        write_report(out.stem, markdown(report, data), report, out.parent)
    return 0


def markdown(report: dict[str, Any], data: Path) -> str:
    s = report["summary"]
    lines = [
        "# Knowledge answers through the running assistant",
        "",
        f"`tandem bench answers --save` on {report['machine']}, commit {report['commit']}, {report['date']}:",
        f"the {s['questions']} questions of `{data.name}`, each the first message of a new conversation.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| correct (cites an answering document, states its fact) | {s['correct']} ({s['correct_share']}) |",
        f"| wrong / declined / a flow started | {s['wrong']} / {s['declined']} / {s['flow']} |",
        f"| facts sent that the cited passages do not support | {s['unsupported_facts_sent']} |",
        f"| routes | {', '.join(f'{k} {v}' for k, v in s['routes'].items())} |",
    ]
    if "knowledge_turn_p50_ms" in s:
        lines.append(
            f"| knowledge turn p50 / p95 | {s['knowledge_turn_p50_ms']} / {s['knowledge_turn_p95_ms']} ms |"
        )
    return "\n".join(lines)


def add_parser(bsub: argparse._SubParsersAction) -> None:
    q = bsub.add_parser(
        "answers",
        help="the brand QA set through the running assistant: correct, wrong, declined, unsupported facts",
    )
    q.add_argument(
        "--data",
        help="JSONL of {question, doc_id, optional fact, optional also: other documents that answer it} "
        "(default: the brand's qa.jsonl)",
    )
    q.add_argument(
        "--keep-cache",
        action="store_true",
        help="keep the cached answers (default: emptied first, so that answers are timed being made)",
    )
    q.add_argument("--save", action="store_true", help="write docs/benchmarks/answers.md and .json")
    q.add_argument("--out", help="write the results to this file instead")
    q.set_defaults(func=main)
