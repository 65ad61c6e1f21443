"""`tandem bench voice`: written answers against quotes, by their closeness to the brand's replies."""

from bot.bench.voice import markdown, measure, pairs, voice_scores


def embed(texts):  # stands in for sentence embeddings: "voice" words against fact words
    return [[t.count("understand") + t.count("happy"), t.count("$") + t.count("days"), 1.0] for t in texts]


REPLIES = ["I understand, happy to help.", "I understand you want a refund.", "Happy to help with that."]


def test_an_answer_in_the_brands_words_is_closer_to_its_replies():
    voiced, plain = voice_scores(
        embed, ["I understand: it takes 5 days.", "It takes 5 days."], REPLIES, nearest=2
    )
    assert voiced > plain


def test_written_and_quoted_runs_are_paired_by_question_and_compared():
    written = [
        {
            "question": "refund time?",
            "route": "knowledge",
            "mode": "generated",
            "text": "I understand: 5 to 7 days.",
        },
        {"question": "shipping?", "route": "knowledge", "mode": "extractive", "text": "Standard is $4.95."},
        {"question": "poem?", "route": "out_of_scope", "text": "Sorry."},
    ]
    quoted = [
        {"question": "refund time?", "route": "knowledge", "mode": "extractive", "text": "5 to 7 days."},
        {"question": "shipping?", "route": "knowledge", "mode": "extractive", "text": "Standard is $4.95."},
        {"question": "poem?", "route": "out_of_scope", "text": "Sorry."},
    ]
    rows = pairs(written, quoted)
    assert [r["question"] for r in rows] == ["refund time?", "shipping?"]
    data = measure(rows, embed, REPLIES, [])
    summary = data["summary"]
    assert summary["written_sent"] == 1 and summary["written"]["facts_kept"] == 1
    assert summary["written"]["gain"] > 0 and summary["as_sent"]["gain"] > 0
    report = {"command": "tandem bench voice", "date": "d", "commit": "c", "machine": "m"}
    text = markdown({**report, "written_file": "w", "quoted_file": "q", **data})
    assert "| written and sent (passed verification) | 1 |" in text
