"""Seed grounded-reply examples: the job the voice model does in the product (RAFT-style).

    .venv/bin/python -m bot.seed.grounded     # writes the brand's voice/grounded{,_heldout}.jsonl

Each example is what the action server shows the model for a knowledge answer
(adapters/serve.py ``knowledge_generator``): the instruction, the passages, the sentences of
the answering passage the product quotes for the question (``knowledge.answer.quote``; a
doc2dial turn has none), the customer's question; and the reply it should write. As in
retrieval-augmented fine-tuning (RAFT, Zhang et al. 2024), the passage that answers sits
among distractors, and some examples have
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
from collections import Counter
from pathlib import Path

from adapters.guards import fitting_courtesy
from adapters.voice_data import NO_ANSWER, grounded_context
from bot.core.settings import ROOT, current_brand
from knowledge.verify import SITUATION

DOC2DIAL = ROOT.parent / "shared" / "datasets" / "doc2dial"
HELDOUT_PERCENT = 15
QUESTION = re.compile(
    r"\?\s*$|^(how|what|when|where|which|who|why|can|could|do|does|is|are|should|will)\b", re.I
)
WINDOW = 420  # characters of a doc2dial page around the answer: about a brand passage's size
# the brand's own openers and closers: its voice examples' most frequent first and last
# sentences that state nothing (knowledge.verify's courtesy), as often as the brand uses them
COURTESY_MIN_COUNT = 5
OPENED, CLOSED = 0.8, 0.5  # share of grounded replies opened, and closed, in the brand's words


def brand_courtesy() -> tuple[list[str], list[str]]:
    """(openers, closers) of the brand's voice examples (voice/train.jsonl), each as many
    times as the brand uses it, and "" for the replies (`OPENED`, `CLOSED`) without one."""
    from adapters.voice_data import read_examples
    from knowledge.verify import COURTESY, SENTENCE

    replies = [x.reply for x in read_examples(current_brand().voice_dir / "train.jsonl")]
    firsts, lasts = Counter(), Counter()
    for reply in replies:
        said = [s.strip() for s in SENTENCE.split(reply.strip()) if s.strip()]
        if len(said) > 1:
            firsts[said[0]] += 1
            lasts[said[-1]] += 1

    def kept(counts: Counter, share: float) -> list[str]:
        chosen = [
            s
            for s, n in counts.items()
            if n >= COURTESY_MIN_COUNT and COURTESY.fullmatch(s)
            for _ in range(n)
        ]
        return chosen + [""] * round(len(chosen) * (1 - share) / share)

    return kept(firsts, OPENED), kept(lasts, CLOSED)


def instruction(job: str = "knowledge_answers") -> str:
    """The instruction the action server gives the model for a job of voice.yml
    (knowledge_answers, rephrase)."""
    from adapters.serve import load_voice_settings

    return str((load_voice_settings().get(job) or {}).get("instruction", "")).strip()


def context(passages: list[str], history: list[str] = (), quoted: str = "") -> str:
    """The passages, the sentences that answer and the earlier questions, as the action
    server shows them (adapters/serve.py)."""
    return grounded_context(instruction(), passages, history, quoted)


def _heldout(key: str) -> bool:
    return int(hashlib.sha256(key.lower().encode()).hexdigest(), 16) % 100 < HELDOUT_PERCENT


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


# how customers ask about a product, a topic heading or a question heading; written from the
# documents' own headings and product names, never from the brand's evaluation sets
PRODUCT_ASKS = [
    "how much is the {name}?",
    "tell me about the {name}",
    "what is the {name} like?",
    "{name} price?",
    "can you describe the {name}",
    "{name} specs",
    "what are the details of the {name}?",
]
TOPIC_ASKS = ["{topic}?", "can you tell me about {topic}?", "hi, question about {topic}", "{topic}"]
QUESTION_ASKS = ["{question}", "{lower}", "hi, {lower}?", "quick question: {lower}?"]
# a heading that tells the customer's situation ("My item arrived damaged"), said by them
SITUATION_ASKS = ["{lower}", "hi, {lower}", "{lower}, what do i do?", "{lower}, what now?"]
# passages shown with the answering one: the action server shows the one or two its quote
# comes from; RAFT-style distractors teach the model to use only the passage that answers
DISTRACTORS = [0, 0, 1, 1, 2]
WITH_HISTORY = 0.2  # share of examples with an earlier question, as a conversation shows it


def _asks(question: str, passage: str, product_names: list[str]) -> list[str]:
    """The customer's questions a section answers: its question heading as written and as
    typed in a hurry; the customer's situation a heading tells ("my item arrived damaged,
    what now?"); a product's price and description; a topic heading asked about."""
    heading = passage.partition("\n\n")[0].rsplit(">", 1)[-1].strip()
    if question:
        lower = question.rstrip("?").strip().lower()
        return [t.format(question=question, lower=lower) for t in QUESTION_ASKS]
    if SITUATION.search(heading):
        return [t.format(lower=heading.rstrip(".").lower()) for t in SITUATION_ASKS]
    if heading in product_names:  # typed as the name is written, or in lower case
        return [t.format(name=heading if n % 2 else heading.lower()) for n, t in enumerate(PRODUCT_ASKS)]
    topic = re.sub(r"\s*\([^)]*\)", "", heading).strip().lower()
    if ">" not in passage.partition("\n\n")[0] or len(topic.split()) < 2:
        return []  # a document's opening ("Apparel catalogue"): no question of its own
    return [t.format(topic=topic) for t in TOPIC_ASKS]


def brand_examples(rng: random.Random, scorer=None, per_section: int = 3) -> list[dict]:
    """Grounded examples from the brand's knowledge base. The reply is what the product
    quotes for the question (knowledge.answer.quote, with `scorer`, the knowledge base's
    embedding model, as at run time), opened and closed in the brand's voice, so a reply
    written as taught keeps every fact of the quote it replaces."""
    from knowledge.answer import as_text, quote

    brand = current_brand()
    banned = evaluation_questions(brand)
    names = brand.product_names()
    sections = brand_sections()
    openers, closers = brand_courtesy()
    examples = []
    for source, heading, passage in sections:
        asks = [q for q in _asks(heading, passage, names) if q.lower().rstrip("?") not in banned]
        others = [s for s in sections if s[0] != source]
        for question in rng.sample(asks, min(per_section, len(asks))):
            quoted = quote(question, [passage], names, scorer)
            if not quoted:
                continue
            passages = [p for _, _, p in rng.sample(others, rng.choice(DISTRACTORS))] + [passage]
            rng.shuffle(passages)
            earlier = (
                [rng.choice([q for _, q, _ in others if q] or [""])] if rng.random() < WITH_HISTORY else []
            )
            said = as_text(s for _, s in quoted)
            # no yes-word before a no or to a complaint, no "Happy shopping!" after one: as
            # the action server sends a written answer (adapters.guards.fitting_courtesy)
            reply = " ".join(x for x in (rng.choice(openers), said, rng.choice(closers)) if x)
            reply = fitting_courtesy(reply, question)
            examples.append(_row("brand", question, passages, reply, passage, earlier, quoted=said))
        if asks and rng.random() < 0.2:
            unrelated = [p for _, _, p in rng.sample(others, rng.choice([1, 2]))]
            examples.append(_row("no-answer", rng.choice(asks), unrelated, NO_ANSWER, key=passage))
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
        for key in rng.sample([k for k in keys if k != row["doc_key"]], rng.choice(DISTRACTORS)):
            text = pages[key]
            at = rng.randint(0, max(0, len(text) - WINDOW))
            passages.append(f"{key.split('::', 1)[-1].split('#', 1)[0]}\n\n{_tidy(text[at : at + WINDOW])}")
        rng.shuffle(passages)
        examples.append(_row("doc2dial", question, passages, reply.rstrip(",;"), key=question))
    return examples


def _row(kind: str, question: str, passages: list[str], reply: str, key: str, history=(), quoted="") -> dict:
    """One example; `key` decides whether it is held out (a section's examples go together,
    so no paraphrase of a held-out question is trained on). `quoted`: the sentences that
    answer, shown as the action server shows them (a doc2dial turn has none: the model
    learns there to find the answer in the passages itself)."""
    return {
        "customer": question,
        "context": context(passages, list(history), quoted),
        "passages": passages,
        "history": list(history),
        "quote": quoted,
        "reply": reply.strip(),
        "intent": f"grounded:{kind}",
        "id": f"{kind}-{hashlib.sha256((question + reply).encode()).hexdigest()[:10]}",
        "heldout": _heldout(key),
    }


def _scorer():
    """Sentence similarity with the knowledge base's embedding model, as the action server
    quotes with it."""
    from knowledge.answer import embedding_scorer
    from knowledge.config import KnowledgeSettings
    from knowledge.embeddings import embedding_model

    settings = KnowledgeSettings()
    return embedding_scorer(embedding_model(settings.embedding_model, settings.embedding_batch_size))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--doc2dial", type=int, default=60, help="doc2dial examples (default 60, as committed)"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    examples = brand_examples(rng, _scorer()) + doc2dial_examples(rng, args.doc2dial)
    rng.shuffle(examples)
    folder: Path = current_brand().voice_dir
    train, heldout = [], []
    for example in examples:
        (heldout if example.pop("heldout") else train).append(example)
    for name, rows in (("grounded.jsonl", train), ("grounded_heldout.jsonl", heldout)):
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    kinds = {}
    for e in examples:
        kinds[e["intent"]] = kinds.get(e["intent"], 0) + 1
    print(f"{len(train)} training and {len(heldout)} held-out grounded examples in {folder}: {kinds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
