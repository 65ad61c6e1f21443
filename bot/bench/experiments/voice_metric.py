"""Run: .venv/bin/python -m bot.bench.experiments.voice_metric [--save]

Experiment, not in the product: what the voice similarity of `tandem bench voice` (bot/bench/
voice.py) rewards. The issue's target is written answers +0.10 above the quotes of the same
questions. Written answers today are the quote with a courtesy sentence before and after, and
gain +0.026. Would a better writer get there, or does the measure reward something else?

The same quotes (docs/benchmarks/answers.json, the questions that have a written answer in
answers-voice.json) are scored as they are, as written, and wrapped in sentences that carry no
fact. The sentences are the brand's own: the commonest first and last sentences of its training
replies (voice/train.jsonl), added one more at a time. "No fact" scores those sentences alone,
with no quote. Every variant keeps every fact of the quote, except "no fact".

Nothing here is tuned: the wrappers are counted from the training replies, and the held-out
replies are only the measure's own reference.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
from pathlib import Path
from typing import Any

from bot.bench.report import OUT_DIR, provenance
from bot.bench.voice import TARGET_GAIN, held_out_replies, voice_scores
from bot.core.settings import current_brand

SENTENCE = re.compile(r"(?<=[.!?])\s+")
MAX_CLOSING = 6


def commonest(replies: list[str]) -> tuple[str, list[str]]:
    """The brand replies' commonest first sentence, and their commonest last sentences (most
    frequent first), of replies whose first and last sentences state no fact (a number, an
    address: knowledge.verify.facts)."""
    from knowledge.verify import facts

    first, last = collections.Counter(), collections.Counter()
    for reply in replies:
        said = [s for s in SENTENCE.split(reply.strip()) if s]
        if len(said) > 1 and not facts(said[0]) and not facts(said[-1]):
            first[said[0]] += 1
            last[said[-1]] += 1
    return first.most_common(1)[0][0], [s for s, _ in last.most_common(MAX_CLOSING)]


def variants(quotes: list[str], written: list[str], opening: str, closing: list[str]) -> dict[str, list[str]]:
    out = {"quote": quotes, "written, as sent": written}
    for n in range(1, len(closing) + 1):
        tail = " ".join(closing[:n])
        out[f"quote + {opening!r} + {n} closing"] = [f"{opening} {q} {tail}" for q in quotes]
    out["no fact: the opening and every closing sentence alone"] = [f"{opening} {' '.join(closing)}"] * len(
        quotes
    )
    return out


def measure(
    quotes: list[str], written: list[str], train: list[str], embed, held_out: list[str]
) -> dict[str, Any]:
    opening, closing = commonest(train)
    base = statistics.mean(voice_scores(embed, quotes, held_out))
    rows = []
    for name, texts in variants(quotes, written, opening, closing).items():
        score = statistics.mean(voice_scores(embed, texts, held_out))
        rows.append(
            {
                "answers": name,
                "voice": round(score, 3),
                "gain": round(score - base, 3),
                "mean_words": round(statistics.mean(len(t.split()) for t in texts), 1),
            }
        )
    return {
        "questions": len(quotes),
        "held_out_replies": len(held_out),
        "held_out_mean_words": round(statistics.mean(len(r.split()) for r in held_out), 1),
        "opening": opening,
        "closing": closing,
        "target_gain": TARGET_GAIN,
        "rows": rows,
    }


def reading(data: dict[str, Any]) -> list[str]:
    """What the table says about the target, worked out from its rows."""
    quote, written, *wrapped, alone = data["rows"]
    reached = next((r for r in wrapped if r["gain"] >= data["target_gain"]), None)
    out = [
        f"- Sentences with no fact score {alone['voice']:.3f} alone, {alone['gain']:+.3f} over the quotes: "
        "the measure is closest to the brand when an answer says nothing.",
        f"- Written answers gain {written['gain']:+.3f} with {written['mean_words'] - quote['mean_words']:.1f} "
        "words more than the quote.",
    ]
    if reached is None:
        out.append(
            f"- No wrapper here reaches +{data['target_gain']:.2f}; the longest gains {wrapped[-1]['gain']:+.3f}."
        )
    else:
        out.append(
            f'- The target is reached by "{reached["answers"]}": {reached["mean_words"] - quote["mean_words"]:.1f} '
            f"words with no fact around every answer ({reached['mean_words']} words in all, against "
            f"{quote['mean_words']} for the quote)."
        )
    return out


def report(data: dict[str, Any]) -> str:
    lines = [
        "# What the voice similarity rewards",
        "",
        "`.venv/bin/python -m bot.bench.experiments.voice_metric --save` on {date} (commit {commit}, "
        "{machine}).".format(**data["provenance"]),
        "",
        f"{data['questions']} questions with a written answer (docs/benchmarks/answers-voice.json) and "
        f"their quotes (answers.json), scored as `tandem bench voice` scores them: mean cosine to the "
        f"5 closest of the brand's {data['held_out_replies']} held-out replies (mean length "
        f"{data['held_out_mean_words']} words). The wrappers are the brand's commonest opening "
        f"({data['opening']!r}) and closing sentences of its training replies: "
        + ", ".join(repr(c) for c in data["closing"])
        + f". Target: +{data['target_gain']:.2f}.",
        "",
        "| answers | voice | gain over the quote | mean words |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['answers']} | {r['voice']:.3f} | {r['gain']:+.3f} | {r['mean_words']} |" for r in data["rows"]
    ]
    lines += ["", "## Reading", "", *reading(data)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument(
        "--save", action="store_true", help="write docs/benchmarks/experiments/voice_metric.{md,json}"
    )
    args = parser.parse_args(argv)
    from knowledge.base import knowledge_base

    bench = Path(OUT_DIR)
    quoted = {r["question"]: r for r in json.loads((bench / "answers.json").read_text())["results"]}
    voiced = json.loads((bench / "answers-voice.json").read_text())["results"]
    pairs = [
        (quoted[r["question"]]["text"].strip(), r["text"].strip())
        for r in voiced
        if r.get("mode") == "generated" and quoted.get(r["question"], {}).get("route") == "knowledge"
    ]
    train_path = current_brand().voice_dir / "train.jsonl"
    train = [
        json.loads(line)["reply"]
        for line in train_path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    embed = knowledge_base().embeddings.embed_documents
    data = measure([q for q, _ in pairs], [w for _, w in pairs], train, embed, held_out_replies())
    data["provenance"] = provenance()
    text = report(data)
    print(text)
    if args.save:
        out = bench / "experiments"
        (out / "voice_metric.json").write_text(json.dumps(data, indent=2) + "\n")
        (out / "voice_metric.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
