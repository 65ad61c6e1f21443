"""actions/reading.py: what the gate reads a message against, built from the tracker."""

from rasa_sdk import Tracker

from actions.reading import context


def _tracker(events, active_loop=None):
    return Tracker("c1", {}, {}, events, False, None, active_loop or {}, "action_listen")


def _gate_turn(user, route, standalone, text=None, cites=()):
    events = [{"event": "user", "text": user}]
    if text:
        events.append({"event": "bot", "text": text, "data": {}})
    custom = {"route": route, "standalone": standalone, "citations": [{"title": t} for t in cites]}
    events.append({"event": "bot", "text": None, "data": {"custom": custom}})
    return events


def test_the_context_holds_the_questions_before_and_the_last_answer_from_the_documents():
    events = [
        *_gate_turn(
            "hw long is the warranty on a tent", "knowledge", "how long is the warranty on a tent", "3 years."
        ),
        *_gate_turn(
            "what's the warmest bag",
            "knowledge",
            "what's the warmest bag",
            "The Summit Down Sleeping Bag.",
            cites=["Outdoor catalogue > Summit Down Sleeping Bag"],
        ),
        {"event": "user", "text": "how much is it"},  # this turn
    ]
    found = context(_tracker(events))
    assert found.previous == ["what's the warmest bag", "how long is the warranty on a tent"]
    assert found.said == ["The Summit Down Sleeping Bag."]
    assert "Summit Down Sleeping Bag" in found.names  # the brand's products, for references
    assert found.cited == "Outdoor catalogue"  # the document the newest answer cites
    assert not found.form_waiting


def test_nothing_is_said_when_the_last_question_was_not_answered_from_the_documents():
    events = [
        *_gate_turn("how long is the warranty", "knowledge", "how long is the warranty", "2 years."),
        *_gate_turn("write me a poem", "out_of_scope", "write me a poem", "Sorry, I can't help with that."),
        {"event": "user", "text": "and for a kettle?"},
    ]
    found = context(_tracker(events))
    assert found.previous == ["write me a poem", "how long is the warranty"]
    assert found.said == [] and found.cited == ""


def test_a_message_is_split_into_its_clauses():
    from actions.reading import clauses

    assert clauses("it's been 3 days. get me a real person") == ["it's been 3 days.", "get me a real person"]
    assert clauses("where is it?  I ordered on monday; still nothing") == [
        "where is it?",
        "I ordered on monday;",
        "still nothing",
    ]
    assert clauses("costs $4.95 for 1.5 kg") == ["costs $4.95 for 1.5 kg"]
    assert clauses("") == []


def test_the_title_of_the_document_an_answer_cites_first():
    from actions.reading import document_title

    cites = [
        {"title": "Delivery to Canada > Do I pay duties or taxes?", "source": "policies/international.md"}
    ]
    assert document_title(cites) == "Delivery to Canada"
    assert document_title([{"title": "Warranty"}]) == "Warranty" and document_title([]) == ""
