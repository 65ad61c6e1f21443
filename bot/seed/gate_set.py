"""Generate the sample brand's ``gate_labelled.jsonl``: messages labelled with the route they need,
split into calibration and test halves (output committed).

    python -m bot.seed.gate_set

Labels: ``flow`` (a scripted flow: track, cancel, change address, return, password,
human), ``knowledge`` (a question the documents answer), ``out_of_scope``, ``chitchat``.
- flow: Bitext rows of the flow intents that are *not* NLU training examples;
- knowledge: the brand's QA set (qa.jsonl) plus Bitext policy
  questions not used for training;
- out_of_scope: CLINC150's out-of-scope *test* queries (training uses oos_train), except
  those that are in a shop's scope (`IN_SCOPE_HERE`: they are knowledge questions);
- chitchat: written here.
"""

from __future__ import annotations

import csv
import json
import random
import re

from bot.core.settings import current_brand
from bot.seed.nlu import DATASETS, UNSAFE

POLICY_INTENTS = (
    "check_refund_policy",
    "check_cancellation_fee",
    "delivery_options",
    "delivery_period",
    "check_payment_methods",
)
# CLINC150's out-of-scope queries are outside CLINC's 150 intents, not outside a shop's. Of
# the 60 drawn, this one asks what the brand's returns policy answers (reviewed by reading all
# 60); it keeps its half and becomes a knowledge question.
IN_SCOPE_HERE = {"how long do i have to wait to get my refund"}
CHITCHAT = [
    "hey there",
    "good evening!",
    "hiya",
    "morning",
    "thanks a lot, that helped",
    "cheers mate",
    "thank you so much",
    "ok bye",
    "see you later",
    "that's all, goodbye",
    "are you a real person?",
    "am I talking to a robot",
    "hello, anyone there?",
    "great, thanks!",
    "bye for now",
    "hi!",
    "good afternoon",
    "thx",
    "talk soon",
    "is this an automated chat?",
]


def _training_examples() -> set[str]:
    nlu_dir = current_brand().nlu_dir
    text = (nlu_dir / "bitext.yml").read_text() + (nlu_dir / "flows.yml").read_text()
    examples = re.findall(r"^\s+- (.+)$", text, re.MULTILINE)
    return {re.sub(r"\[([^\]]+)\]\([a-z_]+\)", r"\1", e).strip().lower() for e in examples}


def _bitext(intents: tuple[str, ...] | frozenset[str], per_intent: int, rng: random.Random) -> list[str]:
    seen = _training_examples()
    rows = list(csv.DictReader(open(DATASETS / "bitext" / "bitext_support_dev.csv", encoding="utf-8")))
    picked = []
    for intent in sorted(intents):
        pool = sorted(
            {
                " ".join(r["instruction"].split())
                for r in rows
                if r["intent"] == intent
                and "{{" not in r["instruction"]
                and not UNSAFE & set(r["instruction"])
                and " ".join(r["instruction"].split()).lower() not in seen
            }
        )
        picked += rng.sample(pool, min(per_intent, len(pool)))
    return picked


def build(seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    brand = current_brand()
    rows = [{"text": t, "label": "flow", "from": "bitext"} for t in _bitext(brand.flows().intents, 10, rng)]
    qa = [json.loads(line) for line in brand.qa_file.read_text().splitlines()]
    rows += [{"text": q["question"], "label": "knowledge", "from": "brand_qa"} for q in qa]
    rows += [{"text": t, "label": "knowledge", "from": "bitext"} for t in _bitext(POLICY_INTENTS, 3, rng)]
    clinc = json.load(open(DATASETS / "clinc150" / "data_full.json", encoding="utf-8"))
    oos = sorted({" ".join(t.split()) for t, _ in clinc["oos_test"] if not UNSAFE & set(t)})
    rows += [{"text": t, "label": "out_of_scope", "from": "clinc150"} for t in rng.sample(oos, 60)]
    rows += [{"text": t, "label": "chitchat", "from": "written"} for t in CHITCHAT]
    by_label: dict[str, list[dict]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    for group in by_label.values():  # stratified halves
        rng.shuffle(group)
        for i, row in enumerate(group):
            row["split"] = "calibration" if i % 2 == 0 else "test"
            if row["text"] in IN_SCOPE_HERE:
                row["label"] = "knowledge"
    return [row for group in by_label.values() for row in group]


def main() -> None:
    rows = build()
    out = current_brand().gate_labelled
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["label"]] = counts.get(row["label"], 0) + 1
    print(f"wrote {len(rows)} labelled messages to {out}: {counts}")


if __name__ == "__main__":
    main()
