"""Parse many texts with a trained Rasa NLU model. Runs in the Rasa venv (Python 3.10):

    .venv-rasa/bin/python bot/rasa_side/nlu_parse.py MODEL.tar.gz TEXTS.json OUT.jsonl

TEXTS.json is a JSON list of strings; each output line is ``{"intent": name,
"confidence": c, "ranking": [[name, c], ...]}`` in the same order. Standalone on purpose:
the Rasa venv does not have the project's packages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time


async def parse_all(model: str, texts: list[str], out_path: str) -> None:
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.ERROR)  # no debug line per parsed message

    agent = Agent.load(model)
    started = time.monotonic()
    with open(out_path, "w", encoding="utf-8") as out:
        for number, text in enumerate(texts, start=1):
            parsed = await agent.parse_message(text)
            intent = parsed.get("intent") or {}
            ranking = [
                [r["name"], round(float(r["confidence"]), 5)] for r in parsed.get("intent_ranking") or []
            ]
            row = {
                "intent": intent.get("name"),
                "confidence": intent.get("confidence"),
                "ranking": ranking[:10],
            }
            out.write(json.dumps(row) + "\n")
            if number % 500 == 0 or number == len(texts):
                rate = number / max(time.monotonic() - started, 1e-9)
                print(f"  parsed {number}/{len(texts)} ({rate:.0f}/s)", file=sys.stderr, flush=True)


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    logging.disable(logging.WARNING)
    model, texts_path, out_path = sys.argv[1:]
    with open(texts_path, encoding="utf-8") as handle:
        texts = json.load(handle)
    asyncio.run(parse_all(model, texts, out_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
