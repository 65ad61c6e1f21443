"""`tandem bench voice`: do written knowledge answers sound more like the brand than quotes?

It compares two runs of `tandem bench answers` over the same questions: one with the voice
model writing answers (``answers-voice.json``: ``TANDEM_KNOWLEDGE_ANSWERS=on tandem up``,
then ``tandem bench answers --out docs/benchmarks/answers-voice.json``) and one with quotes
only (``answers.json``: ``tandem bench answers --save`` on the default stack).

**Voice similarity** of an answer: the mean cosine, in the knowledge base's embedding space
(all-MiniLM-L6-v2 by default), between the answer and its `--nearest` closest replies among
the brand's held-out replies (``voice/heldout.jsonl``, never trained on). It is measured the
same way for the written answer and the quote of the same question, so their topic is the
same and the difference is how they say it.

Reported for the questions where a written answer was sent (it passed verification), and for
all knowledge answers as sent (written where one passed, else the quote) against quotes only.
Facts kept: every fact of the quote (number, price, duration, URL, e-mail, product name) is
also in the written answer.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from bot.bench.report import OUT_DIR, provenance, publish
from bot.core.settings import current_brand

NEAREST = 5
TARGET_GAIN = 0.10  # the target: written answers this much closer than quotes


def held_out_replies() -> list[str]:
    path = current_brand().voice_dir / "heldout.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row["reply"] for row in rows if row.get("reply")]


def voice_scores(embed, texts: list[str], replies: list[str], nearest: int = NEAREST) -> list[float]:
    """Per text: the mean cosine to its `nearest` closest `replies`."""
    import numpy as np

    def unit(items: list[str]):
        vectors = np.asarray(embed(items), dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    if not texts:
        return []
    similarity = unit(texts) @ unit(replies).T
    k = min(nearest, len(replies))
    top = -np.sort(-similarity, axis=1)[:, :k]
    return top.mean(axis=1).round(4).tolist()


def pairs(written: list[dict[str, Any]], quoted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The questions answered from the documents in both runs: the answer as sent with the
    voice model on (its mode), and the quote sent without it."""
    by_question = {r["question"]: r for r in quoted if r.get("route") == "knowledge"}
    return [
        {
            "question": r["question"],
            "sent": r["text"].strip(),
            "mode": r.get("mode"),
            "quote": q["text"].strip(),
        }
        for r in written
        if r.get("route") == "knowledge" and (q := by_question.get(r["question"])) is not None
    ]


def keeps_facts(written: str, quote: str, names: list[str]) -> bool:
    from knowledge.verify import facts

    have = {f.key for f in facts(written, names)}
    return all(f.key in have for f in facts(quote, names))


def measure(rows: list[dict[str, Any]], embed, replies: list[str], names: list[str]) -> dict[str, Any]:
    sent = voice_scores(embed, [r["sent"] for r in rows], replies)
    quotes = voice_scores(embed, [r["quote"] for r in rows], replies)
    for row, s, q in zip(rows, sent, quotes, strict=True):
        row["voice_sent"], row["voice_quote"] = s, q
    written = [r for r in rows if r["mode"] == "generated"]

    def mean(values: list[float]) -> float | None:
        return round(statistics.mean(values), 4) if values else None

    summary = {
        "knowledge_answers": len(rows),
        "written_sent": len(written),
        "written": {
            "voice_written": mean([r["voice_sent"] for r in written]),
            "voice_quote": mean([r["voice_quote"] for r in written]),
            "gain": mean([r["voice_sent"] - r["voice_quote"] for r in written]),
            "facts_kept": sum(keeps_facts(r["sent"], r["quote"], names) for r in written),
        },
        "as_sent": {
            "voice_sent": mean(sent),
            "voice_quote": mean(quotes),
            "gain": mean([s - q for s, q in zip(sent, quotes, strict=True)]),
        },
        "nearest": NEAREST,
        "held_out_replies": len(replies),
        "target_gain": TARGET_GAIN,
    }
    return {"summary": summary, "rows": rows}


def markdown(data: dict[str, Any]) -> str:
    s, w, a = data["summary"], data["summary"]["written"], data["summary"]["as_sent"]

    def fmt(value, sign: str = "") -> str:
        return "-" if value is None else f"{value:{sign}.3f}"

    lines = [
        "# Voice similarity: written answers against quotes",
        "",
        f"`{data['command']}` on {data['date']} (commit {data['commit']}, {data['machine']}).",
        f"Written answers: `{data['written_file']}`; quotes: `{data['quoted_file']}`.",
        "",
        f"Voice similarity: mean cosine (the knowledge base's embedding model) to the {s['nearest']} closest of "
        f"the brand's {s['held_out_replies']} held-out replies. Target: written answers "
        f"{s['target_gain']:+.2f} or more above the quotes of the same questions, keeping every fact.",
        "",
        "| answers | questions | voice, as sent | voice, quote | gain |",
        "|---|---|---|---|---|",
        f"| written and sent (passed verification) | {s['written_sent']} | {fmt(w['voice_written'])} | "
        f"{fmt(w['voice_quote'])} | {fmt(w['gain'], '+')} |",
        f"| every knowledge answer, as sent | {s['knowledge_answers']} | {fmt(a['voice_sent'])} | "
        f"{fmt(a['voice_quote'])} | {fmt(a['gain'], '+')} |",
        "",
        f"Written answers that keep every fact of their quote: {w['facts_kept']} of {s['written_sent']}.",
        "",
        "## The written answers",
        "",
    ]
    for row in [r for r in data["rows"] if r["mode"] == "generated"]:
        lines += [
            f"- **{row['question']}** ({row['voice_sent']:.2f} against {row['voice_quote']:.2f})",
            f"  - written: {row['sent']}",
            f"  - quote: {row['quote']}",
        ]
    return "\n".join(lines)


def add_parser(bsub: argparse._SubParsersAction) -> None:
    q = bsub.add_parser("voice", help="voice similarity of written knowledge answers against quotes")
    q.add_argument(
        "--written", type=Path, default=OUT_DIR / "answers-voice.json", help="answers with the voice model on"
    )
    q.add_argument("--quoted", type=Path, default=OUT_DIR / "answers.json", help="answers with quotes only")
    q.add_argument("--save", action="store_true", help="write docs/benchmarks/voice.md and .json")
    q.set_defaults(func=cmd_voice)


def cmd_voice(args: argparse.Namespace) -> int:
    from knowledge.config import KnowledgeSettings
    from knowledge.embeddings import embedding_model

    for path in (args.written, args.quoted):
        if not path.is_file():
            raise SystemExit(f"error: {path}: no such file (make it with `tandem bench answers`)")
    written = json.loads(args.written.read_text())["results"]
    quoted = json.loads(args.quoted.read_text())["results"]
    rows = pairs(written, quoted)
    if not rows:
        raise SystemExit("error: no question was answered from the documents in both runs")
    settings = KnowledgeSettings()
    model = embedding_model(settings.embedding_model, settings.embedding_batch_size)
    data = measure(rows, model.embed_documents, held_out_replies(), current_brand().product_names())
    command = "tandem bench voice" + (" --save" if args.save else "")
    data = {
        "command": command,
        **provenance(),
        "written_file": str(args.written),
        "quoted_file": str(args.quoted),
        **data,
    }
    publish("voice", markdown(data), data, args.save)
    return 0
