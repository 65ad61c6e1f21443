"""The voice-metric experiment's pure parts (bot/bench/experiments/voice_metric.py)."""

from __future__ import annotations

from bot.bench.experiments.voice_metric import commonest, measure, reading


def test_the_wrappers_are_the_commonest_first_and_last_sentences_without_a_fact():
    replies = [
        "Certainly! Your order ships today. Happy shopping!",
        "Certainly! It costs $5. Call +1 555 0100 200.",
        "Of course! The code is sent by email. Happy shopping!",
    ]
    opening, closing = commonest(replies)
    assert opening == "Certainly!"
    assert closing == ["Happy shopping!"]  # the phone number is a fact: it would not pass verification


def test_every_variant_is_scored_against_the_quotes_and_the_reading_says_where_the_target_falls():
    def embed(texts):  # a fake: a text is closer to the replies the more courtesy words it has
        return [[1.0, float(t.count("!"))] for t in texts]

    replies = ["Certainly! Done. Happy shopping!"] * 3
    data = measure(["Express costs $14.95."], ["Certainly! Express costs $14.95."], replies, embed, replies)
    names = [row["answers"] for row in data["rows"]]
    assert names[:2] == ["quote", "written, as sent"] and names[-1].startswith("no fact")
    assert data["rows"][0]["gain"] == 0.0
    assert any(line.startswith("- Sentences with no fact") for line in reading(data))
