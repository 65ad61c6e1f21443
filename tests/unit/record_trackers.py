"""Record the trackers that the action unit tests replay.

Runs scripted conversations against a running stack (`tandem up`, orders freshly reset
with `tandem orders reset`) and saves each conversation's tracker from Rasa's HTTP API to
tests/unit/trackers/<name>.json. Re-run after changing the domain or the flows:

    .venv/bin/python tests/unit/record_trackers.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bot.core.settings import get_settings  # noqa: E402

OUT = Path(__file__).resolve().parent / "trackers"

CONVERSATIONS = {
    "track_pending": ["where is my order?", "BB-100001", "kemi.doyle@example.com"],
    "track_unknown_then_wrong_email": [
        "track my order",
        "hmm I don't know",
        "BB-999999",
        "BB-100019",
        "wrong@example.com",
        "never mind",
    ],
    "cancel_processing": ["cancel my order", "BB-100010", "PLACEHOLDER_EMAIL", "yes"],
    "cancel_shipped": ["cancel order BB-100017", "tariq.laurent@example.com"],
    "cancel_denied": ["cancel my order", "BB-100011", "PLACEHOLDER_EMAIL", "no, keep it"],
    "address_change": [
        "I need to change the address on my order",
        "BB-100009",
        "elena.adeyemi@example.com",
        "12 Oak Street, Portland, ME 04101",
        "yes",
    ],
    "return_multi_item": [
        "I want to return an item",
        "BB-100033",
        "grace.kim@example.com",
        "the folding chair",
        "does not fit",
    ],
    "return_window_closed": ["I want to return something", "BB-100043", "grace.martin@example.com"],
    "password": ["I forgot my password", "not an email", "ana.silva@example.com"],
    "fallback_twice": ["what's the capital of peru", "what is the weather on mars"],
    "handoff_requested": ["cancel my order", "talk to a human"],
    "question_mid_form": [
        "can you cancel it",
        "what are your delivery options?",
        "BB-100012",
        "PLACEHOLDER_EMAIL",
        "no",
    ],
}


def main() -> None:
    settings = get_settings()
    seed = {o["number"]: o for o in json.loads(settings.brand.orders_seed.read_text())}
    OUT.mkdir(exist_ok=True)
    for name, turns in CONVERSATIONS.items():
        sender = f"record-{name}"
        number = next((t for t in turns if t.startswith("BB-")), None)
        for text in turns:
            if text == "PLACEHOLDER_EMAIL":
                text = seed[number]["email"]
            r = requests.post(
                f"{settings.rasa_url}/webhooks/rest/webhook",
                json={"sender": sender, "message": text},
                timeout=60,
            )
            r.raise_for_status()
        tracker = requests.get(
            f"{settings.rasa_url}/conversations/{sender}/tracker",
            params={"token": settings.rasa_token},
            timeout=10,
        ).json()
        (OUT / f"{name}.json").write_text(json.dumps(tracker, indent=1) + "\n")
        print(f"recorded {name}: {len(tracker['events'])} events")


if __name__ == "__main__":
    main()
