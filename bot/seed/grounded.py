"""Seed grounded-reply examples: the job the voice model does in the product (RAFT-style).

    .venv/bin/python -m bot.seed.grounded     # writes the brand's voice/grounded{,_heldout}.jsonl

Each example is what the action server shows the model for a knowledge answer
(adapters/serve.py ``knowledge_generator``): the instruction, three passages, the customer's
question; and the reply it should write. As in retrieval-augmented fine-tuning (RAFT,
Zhang et al. 2024), the passage that answers sits among distractors, and some examples have
no passage that answers, so the model learns to use only the passage that does, and to say
when none does. Sources:

- **The brand's own documents** (its knowledge base, split as the store splits them). A
  section under a question heading ("How do I start a return?") gives the question; its
  opening sentences (knowledge.verify.extractive_answer) are the facts of the reply, opened
  and closed in the brand's voice. Distractors are other sections, from other documents.
  The brand's QA set (qa.jsonl) and conversation benchmark are evaluation sets: none of
  their questions is used.
- **doc2dial** (shared/datasets/doc2dial, CC BY 3.0): customers' turns in dialogues about
  US government help pages, each with the span of the page the agent answered from. The
  reply is that span; the passage is the window of the page around it; distractors are
  windows of other pages. A turn whose span has a fact (a number, date, URL) missing from
  its window is left out.
- **No passage answers**: a brand question with three sections of other documents; the
  reply says the help pages do not cover it and offers the team (``NO_ANSWER``).

Held-out examples (15%, by a hash of the question) go to grounded_heldout.jsonl, for
``tandem adapter eval``'s grounded score. The Bitext voice examples (bot/seed/voice.py) stay
in voice/train.jsonl; the recipe (voice/train.yml ``grounded_data``) mixes both.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from pathlib import Path

from adapters.voice_data import NO_ANSWER
from bot.core.settings import ROOT, current_brand

DOC2DIAL = ROOT.parent / "shared" / "datasets" / "doc2dial"
HELDOUT_PERCENT = 15
QUESTION = re.compile(
    r"\?\s*$|^(how|what|when|where|which|who|why|can|could|do|does|is|are|should|will)\b", re.I
)
WINDOW = 420  # characters of a doc2dial page around the answer: about a brand passage's size
OPENERS = ["", "Sure! ", "Happy to help. ", "Good question. ", "Of course. "]
CLOSERS = [
    "",
    "",
    " Is there anything else I can help you with?",
    " Let me know if you have any other questions.",
]


def instruction() -> str:
    from adapters.serve import load_voice_settings

    return str((load_voice_settings().get("knowledge_answers") or {}).get("instruction", "")).strip()


def context(passages: list[str]) -> str:
    """The passages as the action server shows them (adapters/serve.py)."""
    return instruction() + "\n\n" + "\n\n".join(passages)


def _heldout(question: str) -> bool:
    return int(hashlib.sha256(question.lower().encode()).hexdigest(), 16) % 100 < HELDOUT_PERCENT


def _tidy(text: str) -> str:
    text = re.sub(r"\s+([,.;:!?)])", r"\1", " ".join(text.split()))
    return re.sub(r"([(])\s+", r"\1", text)


def brand_sections() -> list[tuple[str, str, str]]:
    """(document, question heading, passage text) of the brand's knowledge base."""
    from knowledge.chunking import split_document
    from knowledge.config import KnowledgeSettings
    from knowledge.loaders import load_sources

    settings = KnowledgeSettings()
    documents, _ = load_sources(settings.sources, settings.max_file_bytes)
    out = []
    for document in documents:
        for chunk in split_document(document, "https://example.invalid"):
            heading = (chunk.metadata.get("heading_path") or "").rsplit(">", 1)[-1].strip()
            faq = re.match(r"Q:\s*(.+?)\nA:", chunk.text.partition("\n\n")[2])
            question = faq.group(1).strip() if faq else heading
            out.append((document.path, question if question.endswith("?") else "", chunk.text))
    return out


def evaluation_questions(brand) -> set[str]:
    """The brand's evaluation questions (QA set, conversation benchmark), lower-cased."""
    found = set()
    qa = brand.root / "qa.jsonl"
    if qa.exists():
        found |= {
            json.loads(line)["question"].lower() for line in qa.read_text().splitlines() if line.strip()
        }
    bench = brand.root / "bench" / "conversations.yml"
    if bench.exists():
        found |= {m.lower() for m in re.findall(r"user:\s*\"?(.+?)\"?\s*$", bench.read_text(), re.M)}
    return found


def brand_examples(rng: random.Random) -> list[dict]:
    from knowledge.verify import extractive_answer

    brand = current_brand()
    banned = evaluation_questions(brand)
    sections = brand_sections()
    examples = []
    for source, question, passage in sections:
        if not question or question.lower() in banned:
            continue
        quoted = extractive_answer(question, [passage])
        if not quoted:
            continue
        others = [s for s in sections if s[0] != source]
        distractors = [p for _, _, p in rng.sample(others, 2)]
        passages = distractors + [passage]
        rng.shuffle(passages)
        reply = rng.choice(OPENERS) + " ".join(s for _, s in quoted) + rng.choice(CLOSERS)
        examples.append(_row("brand", question, passages, reply))
        unrelated = [p for _, _, p in rng.sample(others, 3)]
        if rng.random() < 0.35:
            examples.append(_row("no-answer", question, unrelated, NO_ANSWER))
    return examples


def doc2dial_examples(rng: random.Random, limit: int) -> list[dict]:
    from knowledge.verify import facts

    path = DOC2DIAL / "questions.jsonl"
    if not path.exists():
        raise SystemExit(f"{path} is missing: the shared datasets are not on this machine")
    pages = {}
    for line in (DOC2DIAL / "documents.jsonl").read_text().splitlines():
        row = json.loads(line)
        pages[row["doc_key"]] = row["text"]
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rng.shuffle(rows)
    keys = list(pages)
    examples = []
    for row in rows:
        if len(examples) >= limit:
            break
        page, span, start = pages.get(row["doc_key"]), row.get("answer_text") or "", row.get("answer_start")
        question = row["current_user_turn"].split(":", 1)[-1].strip()
        if not page or start is None or not 40 <= len(span) <= 300 or not QUESTION.search(question):
            continue  # "Yes, it was.": a turn that needs its dialogue is not a question to answer
        left = max(0, start - rng.randint(40, WINDOW - len(span)) if len(span) < WINDOW - 40 else start)
        window = _tidy(page[left : left + WINDOW])
        reply = _tidy(span)
        if reply[:1].islower():
            reply = reply[0].upper() + reply[1:]
        if {f.key for f in facts(reply)} - {f.key for f in facts(window)}:
            continue
        title = row["doc_key"].split("::", 1)[-1].split("#", 1)[0]
        passages = [f"{title}\n\n{window}"]
        for key in rng.sample([k for k in keys if k != row["doc_key"]], 2):
            text = pages[key]
            at = rng.randint(0, max(0, len(text) - WINDOW))
            passages.append(f"{key.split('::', 1)[-1].split('#', 1)[0]}\n\n{_tidy(text[at : at + WINDOW])}")
        rng.shuffle(passages)
        examples.append(_row("doc2dial", question, passages, reply.rstrip(",;")))
    return examples


def _row(kind: str, question: str, passages: list[str], reply: str) -> dict:
    return {
        "customer": question,
        "context": context(passages),
        "passages": passages,
        "reply": reply.strip(),
        "intent": f"grounded:{kind}",
        "id": f"{kind}-{hashlib.sha256((question + reply).encode()).hexdigest()[:10]}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--doc2dial", type=int, default=110, help="doc2dial examples (default 110, as committed)"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    examples = brand_examples(rng) + doc2dial_examples(rng, args.doc2dial)
    rng.shuffle(examples)
    folder: Path = current_brand().voice_dir
    train = [e for e in examples if not _heldout(e["customer"])]
    heldout = [e for e in examples if _heldout(e["customer"])]
    for name, rows in (("grounded.jsonl", train), ("grounded_heldout.jsonl", heldout)):
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    kinds = {}
    for e in examples:
        kinds[e["intent"]] = kinds.get(e["intent"], 0) + 1
    print(f"{len(train)} training and {len(heldout)} held-out grounded examples in {folder}: {kinds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
