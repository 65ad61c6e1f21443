"""tandem bench conversations: turns scored one by one, per tag, and the committed set is valid."""

from bot.bench.conversations import default_file, markdown, report_name, score
from bot.core.settings import get_settings
from bot.stack.conversation_tests import Conversation, Result, Step, load


def result(name, tags, turns, failures=()):
    conversation = Conversation(name, "f.yml", [Step("user", "hi")] * len(turns), tags=tags)
    return Result(conversation, failures=list(failures), turns=turns, turn_seconds=[0.1] * len(turns))


def test_turns_are_scored_overall_and_per_tag():
    results = [
        result("a", ["followup"], [True, False], ["step 2 ('and x?'): route: expected knowledge, got flow"]),
        result("b", ["followup", "shorthand"], [True, True]),
    ]
    s = score(results)
    assert (s["turns"], s["turns_right"], s["share_right"]) == (4, 3, 0.75)
    assert s["conversations_all_right"] == 1
    assert s["by_tag"]["followup"] == {"turns": 4, "right": 3, "share": 0.75}
    assert s["by_tag"]["shorthand"]["share"] == 1.0
    assert s["misses"][0]["conversation"] == "a"
    data = {
        "command": "c",
        "file": "f.yml",
        "provenance": {"date": "d", "commit": "x", "machine": "m"},
        "score": s,
    }
    text = markdown(data)
    assert "3 of 4 turns right (75.0%)" in text and "| followup | 4 | 3 | 75.0% |" in text


def test_the_committed_conversations_are_many_multi_turn_and_tagged():
    conversations = load([default_file(get_settings())])
    assert len(conversations) >= 40
    assert all(len([s for s in c.steps if s.kind == "user"]) >= 2 for c in conversations)
    assert all(c.tags and all(s.expect for s in c.steps) for c in conversations)


def test_the_held_out_conversations_load_and_are_reported_apart():
    main = default_file(get_settings())
    held_out = main.with_name("conversations_heldout.yml")
    conversations = load([held_out])
    assert len(conversations) >= 20
    assert not {c.name for c in conversations} & {c.name for c in load([main])}

    def questions(found):  # a message of four words or more is not one to share by chance
        return {
            str(s.value).lower()
            for c in found
            for s in c.steps
            if s.kind == "user" and len(str(s.value).split()) >= 4
        }

    assert not questions(conversations) & questions(load([main]))
    assert report_name(main) == "conversations" and report_name(held_out) == "conversations-heldout"
