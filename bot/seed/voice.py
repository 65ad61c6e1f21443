"""Seed the brand's voice examples from Bitext's customer-support replies.

    .venv/bin/python -m bot.seed.voice      # writes the brand's voice/{train,heldout}.jsonl

Bitext (CDLA-Sharing 1.0, ../shared/datasets/bitext/) is an e-commerce support assistant
written in one consistent voice. Its ``{{Placeholders}}`` are filled from the brand's brand.yml
(``placeholders`` and ``ui_labels``); a row with any other placeholder is left out, so no
example teaches the model to write one. The held-out split is fixed by a hash of the
customer's message, so it does not move when rows are added or removed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re

from bot.core.settings import ROOT, current_brand

DATASET = ROOT.parent / "shared" / "datasets" / "bitext" / "bitext_support_dev.csv"
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
HELDOUT_PERCENT = 10


def placeholder_values(brand: dict | None = None) -> dict[str, str]:
    """Placeholder name -> the brand's value (fields of brand.yml filled in)."""
    brand = brand or current_brand().facts()
    fields = {k: v for k, v in brand.items() if isinstance(v, str)}
    values = {name: str(value).format(**fields) for name, value in (brand.get("placeholders") or {}).items()}
    values.update({label: label for label in brand.get("ui_labels") or []})
    return values


def fill(text: str, values: dict[str, str]) -> str | None:
    """The text with every placeholder filled, or None when one has no value."""
    missing = [m for m in PLACEHOLDER.findall(text) if m not in values]
    if missing:
        return None
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def is_heldout(customer: str) -> bool:
    digest = hashlib.sha256(customer.strip().lower().encode()).digest()
    return digest[0] * 100 // 256 < HELDOUT_PERCENT


def build(rows: list[dict], values: dict[str, str]) -> tuple[list[dict], list[dict], int]:
    train, heldout, dropped = [], [], 0
    seen = set()
    for index, row in enumerate(rows):
        customer = fill(" ".join(row["instruction"].split()), values)
        reply = fill(row["response"].strip(), values)
        if not customer or not reply or customer.lower() in seen:
            dropped += 1
            continue
        seen.add(customer.lower())
        example = {"id": f"bitext-{index:04d}", "intent": row["intent"], "customer": customer, "reply": reply}
        (heldout if is_heldout(customer) else train).append(example)
    return train, heldout, dropped


def main() -> None:
    with open(DATASET, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    train, heldout, dropped = build(rows, placeholder_values())
    voice_dir = current_brand().voice_dir
    voice_dir.mkdir(parents=True, exist_ok=True)
    for name, examples in (("train", train), ("heldout", heldout)):
        with open(voice_dir / f"{name}.jsonl", "w", encoding="utf-8") as out:
            for example in examples:
                out.write(json.dumps(example, ensure_ascii=False) + "\n")
    print(f"{len(train)} train, {len(heldout)} held out, {dropped} left out (unknown placeholder or repeat)")


if __name__ == "__main__":
    main()
