"""Seed rephrasing examples: the other job the voice model does in the product.

    .venv/bin/python -m bot.seed.rephrase     # writes the brand's voice/rephrase{,_heldout}.jsonl

A scripted response marked for it (``metadata: {rephrase: true}``) is sent in the brand's
voice: the action server shows the model the response as the flow filled it in, after the
rephrasing instruction of voice.yml (adapters/serve.py ``VoiceModel.rephrase``), and sends
what it writes only when it keeps every fact and slot value, adds none, stays close in
meaning and is not too long. The adapter trained on customers' messages alone lost the
responses' facts: 0 of 46 passed (docs/benchmarks/adapter.md).

Each example here is one text response of the brand's domain, its slots filled with one of
`VALUE_SETS` (never the sample values the adapter benchmark fills in), and the reply it should
get: the response whole, in the brand's own words around it. Its openers and closers are the
brand's voice examples' fact-free first and last sentences, as often as the brand uses them
(bot.seed.grounded ``brand_courtesy``), and the action server's courtesy rule applies (no
yes-word before a no or an apology: ``adapters.guards.fitting_courtesy``). So the model learns
to keep what the flow says, word for word, and to say it as the brand does.

Held-out responses (`adapters.voice_data.rephrase_heldout`, by a hash of the response's
name: a response's examples go together) go to rephrase_heldout.jsonl; `tandem bench adapter` reports how many
of them the product would send.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from pathlib import Path

from adapters.guards import OWN_OPENING, fitting_courtesy
from adapters.voice_data import rephrase_heldout
from bot.core.settings import current_brand
from knowledge.verify import NEGATION

# a response that asks the customer something or says goodbye ends as it does (and one that
# opens with its own greeting or thanks takes no opener: adapters.guards.OWN_OPENING)
OWN_ENDING = re.compile(r"(?:\?|goodbye!?)$", re.I)
OPENED, CLOSED = 0.6, 0.4  # share of the replies with an opener, and with a closer
# values a flow fills in, other than the adapter benchmark's (bot/bench/adapter.py SAMPLE_SLOTS)
VALUE_SETS = [
    {
        "address": "7 Elm Road, Burlington, VT 05401",
        "new_address": "301 Harbor Drive, Halifax, NS B3H 1A1",
        "cancellable": "pending or processing",
        "carrier": "FedEx",
        "deadline": "2026-10-30",
        "delivered_on": "2026-09-30",
        "email": "alex.jones@example.org",
        "eta": "2026-10-12",
        "hours": "24",
        "item": "Harbor Knit Beanie",
        "items": "Harbor Knit Beanie",
        "order_number": "BB-100457",
        "placed_on": "2026-10-02",
        "refund_days": "5 to 7 business days",
        "return_number": "RMA-58213",
        "shipped_on": "2026-10-05",
        "status": "delivered",
        "total": "129.00",
        "tracking_number": "9400111899223344556677",
        "window_days": "30",
    },
    {
        "address": "88 Maple Avenue, Apt 4, Austin, TX 78701",
        "new_address": "15 Cedar Court, Denver, CO 80202",
        "cancellable": "pending or processing",
        "carrier": "USPS",
        "deadline": "2027-01-21",
        "delivered_on": "2026-12-22",
        "email": "j.rivera@example.net",
        "eta": "2026-12-19",
        "hours": "24",
        "item": "Saltmarsh Skillet",
        "items": "Saltmarsh Skillet, Ridge Tent 2P, Harbor Wool Socks (3 pack)",
        "order_number": "BB-102938",
        "placed_on": "2026-12-12",
        "refund_days": "5 to 7 business days",
        "return_number": "RMA-60017",
        "shipped_on": "2026-12-14",
        "status": "processing",
        "total": "212.45",
        "tracking_number": "1Z4F8E2R0312345678",
        "window_days": "30",
    },
]


def responses() -> list[tuple[str, str]]:
    """(response name, text) of every text variation of the brand's domain."""
    from actions import nlg

    return [
        (name, variation["text"])
        for name, variations in nlg.responses().items()
        for variation in variations
        if variation.get("text")
    ]


def examples(rng: random.Random) -> list[dict]:
    from actions import nlg
    from bot.seed.grounded import brand_courtesy, instruction

    openers, closers = brand_courtesy()
    openers = [o for o in openers if o] + [""] * round(len([o for o in openers if o]) * (1 - OPENED) / OPENED)
    closers = [c for c in closers if c] + [""] * round(len([c for c in closers if c]) * (1 - CLOSED) / CLOSED)
    context = instruction("rephrase")
    rows = []
    for name, template in responses():
        filled = {nlg.interpolate(template, values) for values in VALUE_SETS}
        for text in sorted(filled):
            for _ in range(2):  # two wordings of the same response
                opener = "" if OWN_OPENING.match(text) else rng.choice(openers)
                # no "Happy shopping!" after a no, a not or an apology
                closer = "" if OWN_ENDING.search(text) or NEGATION.search(text) else rng.choice(closers)
                reply = " ".join(x for x in (opener, text, closer) if x)
                reply = fitting_courtesy(reply, text)
                rows.append(
                    {
                        "customer": text,
                        "context": context,
                        "reply": reply,
                        "intent": f"rephrase:{name}",
                        "id": f"rephrase-{hashlib.sha256((text + reply).encode()).hexdigest()[:10]}",
                        "heldout": rephrase_heldout(name),
                    }
                )
    unique = {(r["customer"], r["reply"]): r for r in rows}  # a wording drawn twice counts once
    return list(unique.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    rows = examples(rng)
    rng.shuffle(rows)
    folder: Path = current_brand().voice_dir
    train = [r for r in rows if not r["heldout"]]
    heldout = [r for r in rows if r["heldout"]]
    for name, chosen in (("rephrase.jsonl", train), ("rephrase_heldout.jsonl", heldout)):
        text = "".join(
            json.dumps({k: v for k, v in r.items() if k != "heldout"}, ensure_ascii=False) + "\n"
            for r in chosen
        )
        (folder / name).write_text(text)
    names = {r["intent"] for r in heldout}
    print(
        f"{len(train)} training and {len(heldout)} held-out rephrasing examples in {folder}; "
        f"held-out responses: {', '.join(sorted(n.split(':', 1)[1] for n in names))}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
