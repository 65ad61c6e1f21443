"""action_answer_from_knowledge: the gate's route becomes the reply, with its metadata."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rasa_sdk.events import ConversationPaused, FollowupAction, SlotSet

from actions import knowledge_answer
from actions.knowledge_answer import ActionAnswerFromKnowledge, consecutive_failed_turns
from bot.core.settings import current_brand
from bot.gate.thresholds import Flow, load_thresholds
from knowledge.store import Hit
from tests.fakes import MemoryRedis
from tests.unit.conftest import replay, tracker_from_events

RETURNS = Hit(
    "Returns and refunds > Return window\n\nYou can return an item within 30 days of delivery.",
    0.03,
    {
        "source": "policies/returns-and-refunds.md",
        "title": "Returns and refunds",
        "heading_path": "Return window",
        "url": "https://brightbay.example/kb/policies-returns-and-refunds#return-window",
        "_id": "c1",
    },
    dense=0.72,
    sparse=8.0,
    dense_rank=1,
    sparse_rank=1,
)


class FakeKB:
    embeddings = None  # no sentence model: quotes are picked by shared words

    def __init__(self, hits):
        self.hits = hits
        self.queries = []

    def search(self, query, k=5, mode="hybrid"):
        self.queries.append(query)
        return self.hits


def passage(source, text, dense, id_):
    """A search hit of `source` with this dense similarity."""
    return Hit(text, 0.03, {"source": source, "title": source, "heading_path": "", "_id": id_}, dense=dense)


@pytest.fixture
def kb(monkeypatch):
    fake = FakeKB([RETURNS])
    monkeypatch.setattr(knowledge_answer, "_knowledge", lambda: fake)
    redis = MemoryRedis()
    monkeypatch.setattr(knowledge_answer, "redis_client", lambda: redis)
    monkeypatch.setattr("actions.handoff.redis_client", lambda: redis)
    monkeypatch.setattr(knowledge_answer.reading, "nlu_parse", lambda text: None)  # no Rasa here
    return fake


def user(text, intent, confidence, ranking=()):
    ranking = [
        {"name": intent, "confidence": confidence},
        *[{"name": n, "confidence": c} for n, c in ranking],
    ]
    return {
        "event": "user",
        "text": text,
        "parse_data": {
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": ranking,
            "entities": [],
        },
    }


def tracker(*turns):
    events = [{"event": "action", "name": "action_session_start"}, {"event": "session_started"}]
    for turn in turns:
        events += [{"event": "action", "name": "action_listen"}, turn]
    return tracker_from_events(events)


def routes(dispatcher):
    return [m["custom"]["route"] for m in dispatcher.messages if (m.get("custom") or {}).get("route")]


async def test_a_question_with_a_close_passage_is_answered_with_citations(kb, dispatcher, domain):
    t = tracker(
        user("how long do I have to return something", "nlu_fallback", 0.4, [("check_refund_policy", 0.35)])
    )
    events = await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert events == [SlotSet("gate_flow", False)] and routes(dispatcher) == ["knowledge"]
    assert dispatcher.messages[0]["text"] == "You can return an item within 30 days of delivery."
    meta = dispatcher.messages[1]["custom"]
    assert meta["citations"][0]["source"] == "policies/returns-and-refunds.md"
    assert meta["scores"]["dense_top"] == 0.72 and meta["scores"]["agree"] is True


async def test_the_second_identical_question_comes_from_the_cache(kb, dispatcher, domain, monkeypatch):
    t = tracker(user("how long do I have to return something", "nlu_fallback", 0.4))
    await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    import knowledge.answer as answer_module

    monkeypatch.setattr(answer_module, "answer", lambda *a, **k: pytest.fail("answered again"))
    await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert routes(dispatcher) == ["knowledge", "knowledge"]


def gate_turn(standalone, route="knowledge"):
    return {"event": "bot", "text": None, "data": {"custom": {"route": route, "standalone": standalone}}}


async def test_a_follow_up_is_read_as_a_standalone_question(kb, dispatcher, domain, monkeypatch):
    parsed = []

    def nlu_parse(text):
        parsed.append(text)
        return {"intent_ranking": [{"name": "check_refund_policy", "confidence": 0.8}]}

    monkeypatch.setattr(knowledge_answer.reading, "nlu_parse", nlu_parse)
    t = tracker(
        user("what is the return window for jackets", "check_refund_policy", 0.9),
        gate_turn("what is the return window for jackets"),
        user("and for shoes?", "inform", 0.3),
    )
    await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    # no sentence model in this fake: the last thing asked about is swapped
    assert parsed[-1] == "what is the return window for shoes?"
    # searched as read, then with the product said as "item" (not closer here: the same fake hits)
    assert kb.queries[-2:] == ["what is the return window for shoes?", "what is the return window for item?"]
    meta = dispatcher.messages[-1]["custom"]
    assert meta["standalone"] == "what is the return window for shoes?" and meta["resolved"] == "ellipsis"
    assert meta["scores"]["intent"] == "check_refund_policy"  # NLU's reading of the standalone question


async def test_a_message_that_asks_for_a_flow_is_not_read_as_a_follow_up(kb, dispatcher, domain):
    t = tracker(
        user("what is the return window for jackets", "check_refund_policy", 0.9),
        gate_turn("what is the return window for jackets"),
        user("and where is my order then", "track_order", 0.95),
    )
    await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert dispatcher.messages[-1]["custom"]["resolved"] == "as_is"


@pytest.mark.parametrize(
    "passage, dense, question",
    [
        ("Unrelated\n\nTents.", 0.05, "what's the capital of peru"),  # nothing close
        ("Tents\n\nThe Ridge tent weighs 2 kg.", 0.8, "can I pay with bitcoin"),  # close, but no answer
    ],
    ids=["far-passage", "close-passage-that-does-not-answer"],
)
async def test_out_of_scope_when_no_passage_answers(kb, dispatcher, domain, passage, dense, question):
    kb.hits = [Hit(passage, 0.01, {"source": "x.md", "title": "X", "_id": "c2"}, dense=dense, dense_rank=1)]
    await ActionAnswerFromKnowledge().run(dispatcher, tracker(user(question, "out_of_scope", 0.9)), domain)
    assert routes(dispatcher) == ["out_of_scope"]
    assert dispatcher.messages[0]["response"] == "utter_out_of_scope"
    assert passage.split("\n\n")[1] not in str(dispatcher.messages)


async def test_close_passages_that_do_not_answer_are_offered_as_buttons(kb, dispatcher, domain):
    """The gate chose knowledge, no sentence answers, and the NLU does not say out of scope:
    the closest sections are offered rather than turning the customer away."""
    kb.hits = [
        Hit(
            "Payments > Can I pay in instalments?\n\nNot at the moment.",
            0.02,
            {
                "source": "policies/payments.md",
                "title": "Payments",
                "heading_path": "Can I pay in instalments?",
            },
            dense=0.8,
            dense_rank=1,
        ),
        Hit(
            "Payments > Which payment methods do you accept?\n\nVisa and Mastercard.",
            0.01,
            {
                "source": "policies/payments.md",
                "title": "Payments",
                "heading_path": "Which payment methods do you accept?",
            },
            dense=0.7,
            dense_rank=2,
        ),
    ]
    t = tracker(user("can i pay with amex", "inform", 0.45, [("out_of_scope", 0.2)]))  # no topic to offer
    await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert routes(dispatcher) == ["clarify"]
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == [
        "Can I pay in instalments?",
        "Which payment methods do you accept?",
    ]
    assert "Not at the moment." not in str(dispatcher.messages)


async def test_unsure_between_topics_offers_buttons(kb, dispatcher, domain):
    kb.hits = []
    t = tracker(user("my order thing", "nlu_fallback", 0.4, [("track_order", 0.35), ("cancel_order", 0.3)]))
    await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert routes(dispatcher) == ["clarify"]
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == ["/track_order", "/cancel_order"]


async def test_a_flow_the_gate_picks_starts_its_form(kb, dispatcher, domain, monkeypatch):
    # below the FallbackClassifier's
    thresholds = replace(
        load_thresholds(current_brand().gate_file), flow=Flow(min_confidence=0.3, min_margin=0.05)
    )
    monkeypatch.setattr(knowledge_answer, "load_thresholds", lambda path: thresholds)
    kb.hits = []
    t = tracker(user("where's my stuff", "nlu_fallback", 0.4, [("track_order", 0.38), ("greet", 0.1)]))
    events = await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert events == [SlotSet("gate_flow", False), FollowupAction("track_order_form")]
    assert routes(dispatcher) == ["flow"]


async def test_a_flow_intent_starts_its_form_through_the_rules_when_the_gate_confirms(kb, dispatcher, domain):
    kb.hits = []
    t = tracker(user("I want to return my jacket", "get_refund", 0.99, [("track_refund", 0.0)]))
    events = await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert events == [SlotSet("gate_flow", True)] and routes(dispatcher) == ["flow"]


VERIFIED_BEFORE = [  # an order verified by an earlier form that was left without finishing
    {"event": "slot", "name": "order_number", "value": "BB-100021"},
    {"event": "slot", "name": "email", "value": "someone@example.com"},
]


async def test_a_flow_starts_without_the_order_an_earlier_form_verified(kb, dispatcher, domain):
    kb.hits = []
    t = tracker(
        *VERIFIED_BEFORE, user("I want to cancel my order", "cancel_order", 0.99, [("track_order", 0.0)])
    )
    events = await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    forget = [SlotSet("order_number", None), SlotSet("email", None)]
    assert events == [SlotSet("gate_flow", True), *forget]


async def test_a_flow_keeps_the_order_number_its_first_message_gives(kb, dispatcher, domain):
    kb.hits = []
    message = user("cancel order BB-100010", "cancel_order", 0.99, [("track_order", 0.0)])
    message["parse_data"]["entities"] = [{"entity": "order_number", "value": "BB-100010"}]
    events = await ActionAnswerFromKnowledge().run(dispatcher, tracker(*VERIFIED_BEFORE, message), domain)
    assert events == [SlotSet("gate_flow", True), SlotSet("email", None)]


async def test_a_question_about_a_flow_topic_is_answered_and_no_form_starts(kb, dispatcher, domain):
    close = load_thresholds(current_brand().gate_file).knowledge.min_dense_flow_question + 0.05
    kb.hits = [
        Hit(
            RETURNS.text,
            RETURNS.score,
            RETURNS.metadata,
            dense=close,
            sparse=8.0,
            dense_rank=1,
            sparse_rank=1,
        )
    ]
    t = tracker(user("how long do I have to return something?", "get_refund", 0.99, [("track_refund", 0.0)]))
    events = await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert events == [SlotSet("gate_flow", False)] and routes(dispatcher) == ["knowledge"]
    assert "30 days" in dispatcher.messages[0]["text"]


async def test_a_second_failed_turn_in_a_row_hands_over(kb, dispatcher, domain):
    kb.hits = []
    first = tracker(user("what's the capital of peru", "out_of_scope", 0.9))
    await ActionAnswerFromKnowledge().run(dispatcher, first, domain)
    failed_reply = {"event": "bot", "text": "sorry", "data": {"custom": {"route": "out_of_scope"}}}
    events = [
        *first.events,
        {"event": "action", "name": "action_answer_from_knowledge"},
        failed_reply,
        {"event": "action", "name": "action_listen"},
        user("how is glue made", "out_of_scope", 0.9),
    ]
    second = tracker_from_events(events)
    assert consecutive_failed_turns(second.events) == 2
    result = await ActionAnswerFromKnowledge().run(dispatcher, second, domain)
    assert ConversationPaused() in result and "handoff" in routes(dispatcher)


async def test_a_mid_form_question_is_answered_and_the_form_is_not_restarted(kb, dispatcher, domain):
    t = replay("question_mid_form", "action_answer_info")  # recorded: cancel form active
    kb.hits = [
        Hit(
            "Shipping\n\nStandard delivery takes 3 to 5 business days.",
            0.03,
            {"source": "policies/shipping.md", "title": "Shipping", "_id": "c4"},
            dense=0.7,
            dense_rank=1,
        )
    ]
    events = await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert events == [SlotSet("gate_flow", False)] and routes(dispatcher) == ["knowledge"]
    assert "3 to 5 business days" in dispatcher.messages[0]["text"]


class WritingVoice:
    """A voice model that writes a given answer word by word (adapters/serve.py's interface)."""

    id = "fake"

    def __init__(self, text):
        self.text, self.asked = text, []

    def knowledge_generator(self, on_text=None):
        def generate(question, passages, history, quoted=""):
            self.asked.append(question)
            for word in self.text.split(" "):
                if on_text:
                    on_text(word + " ")
            return self.text

        return generate


@pytest.fixture
def drafts(monkeypatch):
    sent = []
    monkeypatch.setattr(
        knowledge_answer.streaming, "publisher", lambda sender: lambda delta: sent.append(delta)
    )
    return sent


async def test_the_voice_model_writes_the_chosen_answer_and_streams_its_drafts(
    kb, dispatcher, domain, monkeypatch, drafts
):
    voice = WritingVoice("Happy to help! You can return an item within 30 days of delivery.")
    monkeypatch.setattr(knowledge_answer, "_voice_for_answers", lambda: voice)
    t = tracker(user("how long do I have to return something", "nlu_fallback", 0.4))
    await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert (
        dispatcher.messages[0]["text"] == voice.text
        and dispatcher.messages[1]["custom"]["mode"] == "generated"
    )
    assert "".join(drafts).strip() == voice.text and len(drafts) > 3


async def test_a_written_answer_that_fails_verification_leaves_the_quote(
    kb, dispatcher, domain, monkeypatch, drafts
):
    voice = WritingVoice("You can return an item within 60 days of delivery.")  # 60: not in the passage
    monkeypatch.setattr(knowledge_answer, "_voice_for_answers", lambda: voice)
    t = tracker(user("how long do I have to return something", "nlu_fallback", 0.4))
    await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert dispatcher.messages[0]["text"] == "You can return an item within 30 days of delivery."
    assert dispatcher.messages[1]["custom"]["mode"] == "extractive"


async def test_no_answer_is_written_for_a_turn_the_gate_sends_elsewhere(
    kb, dispatcher, domain, monkeypatch, drafts
):
    voice = WritingVoice("You can return an item within 30 days of delivery.")
    monkeypatch.setattr(knowledge_answer, "_voice_for_answers", lambda: voice)
    kb.hits = [
        Hit(
            "Unrelated\n\nTents.",
            0.01,
            {"source": "x.md", "title": "X", "_id": "c2"},
            dense=0.05,
            dense_rank=1,
        )
    ]
    await ActionAnswerFromKnowledge().run(
        dispatcher, tracker(user("what's the capital of peru", "out_of_scope", 0.9)), domain
    )
    assert routes(dispatcher) == ["out_of_scope"] and voice.asked == [] and drafts == []


class DownKB(FakeKB):
    """A knowledge base whose Qdrant server does not answer."""

    def search(self, query, k=5, mode="hybrid"):
        from knowledge.outage import StoreUnavailable

        self.queries.append(query)
        raise StoreUnavailable("the knowledge store did not answer: connection refused")


async def test_a_question_while_the_store_is_down_is_not_declined_but_fails_politely(
    kb, dispatcher, domain, monkeypatch
):
    """Without the documents, "not something I can help with" or a question back would be a
    guess: the action fails (503), so the customer gets "having trouble" and asks again later."""
    from knowledge.outage import StoreUnavailable

    monkeypatch.setattr(knowledge_answer, "_knowledge", lambda: DownKB([]))
    t = tracker(user("how long do I have to return something", "nlu_fallback", 0.4))
    with pytest.raises(StoreUnavailable):
        await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert dispatcher.messages == []


async def test_a_flow_still_starts_while_the_store_is_down(kb, dispatcher, domain, monkeypatch):
    monkeypatch.setattr(knowledge_answer, "_knowledge", lambda: DownKB([]))
    t = tracker(user("where is my order", "track_order", 0.99))
    events = await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert SlotSet("gate_flow", True) in events and routes(dispatcher) == ["flow"]


def test_an_order_number_after_an_answer_that_asks_to_start_a_flow_is_for_that_flow(monkeypatch):
    brand = current_brand()
    thresholds, flows = load_thresholds(brand.gate_file), brand.flows()
    readings = {
        "Start a return with the reason damaged.": {
            "intent_ranking": [{"name": "get_refund", "confidence": 0.91}]
        },
        "Refunds take 5 to 7 business days.": {
            "intent_ranking": [{"name": "track_refund", "confidence": 0.9}]
        },
        "Ask the assistant to cancel it.": {"intent_ranking": [{"name": "cancel_order", "confidence": 0.3}]},
    }
    monkeypatch.setattr(knowledge_answer.reading, "nlu_parse", lambda text: readings.get(text))
    asked = knowledge_answer.asked_to_act
    assert asked(["Start a return with the reason damaged."], thresholds, flows)[0] == ("get_refund", 0.91)
    assert asked(["Refunds take 5 to 7 business days."], thresholds, flows) is None  # no flow of its own
    assert asked(["Ask the assistant to cancel it."], thresholds, flows) is None  # not confident
    assert asked(["Rasa does not answer."], thresholds, flows) is None


def test_a_complaint_about_a_product_is_answered_by_the_policy_for_that_product(monkeypatch):
    damaged = Hit(
        "Damaged items > My item arrived damaged\n\nStart a return with the reason damaged: it is free.",
        0.03,
        {
            "source": "policies/damaged-or-missing.md",
            "title": "Damaged items",
            "heading_path": "",
            "_id": "d1",
        },
        dense=0.71,
    )
    lamp = Hit(
        "Home catalogue > Beacon Table Lamp\n\nItem number BB-H230. Takes an E27 bulb.",
        0.03,
        {"source": "catalogue/home.md", "title": "Home catalogue", "heading_path": "", "_id": "h1"},
        dense=0.48,
    )

    class ByQuery(FakeKB):  # the lamp's words find its catalogue entry, "item" the policy
        def search(self, query, k=5, mode="hybrid"):
            self.queries.append(query)
            return [damaged, lamp] if "item arrived" in query else [lamp]

    fake = ByQuery([])
    monkeypatch.setattr(knowledge_answer, "_knowledge", lambda: fake)
    monkeypatch.setattr(knowledge_answer, "redis_client", lambda: MemoryRedis())
    retrieval, found = knowledge_answer.build_answer("my lamp arrived broken, what do I do?", [], 0.6)
    assert fake.queries == ["my lamp arrived broken, what do I do?", "my item arrived broken, what do I do?"]
    assert retrieval.hits[0] is damaged and retrieval.query == "my lamp arrived broken, what do I do?"
    assert found["citations"][0]["source"] == "policies/damaged-or-missing.md"
    # a question the product's own entry answers keeps it: "item" is no closer
    fake.queries.clear()
    retrieval, _ = knowledge_answer.build_answer("does the lamp take an E27 bulb", [], 0.6)
    assert retrieval.hits[0] is lamp


def test_a_policy_that_answers_only_the_question_said_with_item_is_quoted_for_it(monkeypatch):
    covered = passage(
        "policies/warranty.md",
        "Warranty > What does it cover?\n\nWe repair any faulty item for free.",
        0.5,
        "w1",
    )
    kettle = passage(
        "catalogue/kitchen.md",
        "Kitchen > Harbor Glass Kettle\n\nItem number BB-K101. Holds 1.7 litres.",
        0.38,
        "k1",
    )

    class ByQuery(FakeKB):
        def search(self, query, k=5, mode="hybrid"):
            return [covered] if "item" in query else [kettle]

    monkeypatch.setattr(knowledge_answer, "_knowledge", lambda: ByQuery([]))
    monkeypatch.setattr(knowledge_answer, "redis_client", lambda: MemoryRedis())
    # no sentence of the warranty shares a word with "my kettle broke"; said with "item", the
    # question finds its sentence
    question = "my kettle broke"
    retrieval, found = knowledge_answer.build_answer(question, [], 0.6)
    assert found is not None and found["citations"][0]["source"] == "policies/warranty.md"
    assert retrieval.query == question and retrieval.hits == [covered]


def test_a_reference_answered_as_typed_tells_list_items_apart_by_the_products_its_reading_named(monkeypatch):
    lines = passage(
        "policies/warranty.md",
        "Warranty > Warranty periods\n\n- Kitchen and home products: 2 years from delivery.\n"
        "- Outdoor gear (tents, packs, stoves): 3 years from delivery.",
        0.6,
        "w1",
    )
    kettle = passage("catalogue/kitchen.md", "Kitchen > Harbor Glass Kettle\n\nPrice $45.00.", 0.3, "k1")

    class ByQuery(FakeKB):  # the reading finds the kettle's entry, the message alone the warranty
        def search(self, query, k=5, mode="hybrid"):
            return [kettle] if "Kettle" in query else [lines]

    monkeypatch.setattr(knowledge_answer, "_knowledge", lambda: ByQuery([]))
    monkeypatch.setattr(knowledge_answer, "redis_client", lambda: MemoryRedis())
    reading = "warranty on that? (Harbor Glass Kettle: much)"
    retrieval, found = knowledge_answer.build_answer(
        reading, [], 0.6, typed="warranty on that?", self_contained=0.5
    )
    assert retrieval.query == "warranty on that?"
    assert retrieval.about == ("Harbor Glass Kettle", "kitchen")
    assert found["text"].strip() == "Kitchen and home products: 2 years from delivery."
    # a reading that named no product, or a message that names it itself: nothing more
    assert knowledge_answer.products_read("and the price?", "and the price? (warranty)") == ()
    typed = "is the harbor glass kettle covered"
    assert knowledge_answer.products_read(typed, f"{typed} (Harbor Glass Kettle)") == ()


def readings_of(table, default):
    """A fake NLU: the ranking for each text in `table`, else `default`."""

    def nlu_parse(text):
        name, confidence = table.get(text, default)
        return {"intent_ranking": [{"name": name, "confidence": confidence}]}

    return nlu_parse


async def test_a_request_in_a_later_clause_of_a_message_is_followed(kb, dispatcher, domain, monkeypatch):
    table = {
        "i already asked the neighbours and it's been 3 days.": ("check_refund_policy", 0.76),
        "get me a real person": ("contact_human_agent", 0.88),
    }
    monkeypatch.setattr(
        knowledge_answer.reading, "nlu_parse", readings_of(table, ("check_refund_policy", 0.19))
    )
    message = "i already asked the neighbours and it's been 3 days. get me a real person"
    t = tracker(user(message, "check_refund_policy", 0.19, [("inform", 0.15)]))
    events = await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert routes(dispatcher) == ["flow"] and FollowupAction("action_handoff") in events
    # a message of one clause is read whole, as before
    dispatcher.messages.clear()
    t = tracker(user("it's been 3 days get me a real person", "check_refund_policy", 0.19))
    events = await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert FollowupAction("action_handoff") not in events


async def test_yes_to_an_answer_that_offers_a_person_hands_over(kb, dispatcher, domain, monkeypatch):
    offer = "We can't merge accounts, but we can move your order history: ask the assistant to pass you to a person."
    table = {"ask the assistant to pass you to a person.": ("contact_human_agent", 0.9)}
    monkeypatch.setattr(knowledge_answer.reading, "nlu_parse", readings_of(table, ("out_of_scope", 0.5)))
    question = "can you merge my two accounts"
    answered = [user(question, "nlu_fallback", 0.3), {"event": "bot", "text": offer}, gate_turn(question)]
    t = tracker(*answered, user("yes please pass me to someone who can move them", "out_of_scope", 0.52))
    events = await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert routes(dispatcher) == ["flow"] and FollowupAction("action_handoff") in events
    # "yes" to an answer that offers nothing is not a request
    dispatcher.messages.clear()
    plain = [user(question, "nlu_fallback", 0.3), {"event": "bot", "text": "No, sorry."}, gate_turn(question)]
    t = tracker(*plain, user("yes please pass me to someone who can move them", "out_of_scope", 0.52))
    events = await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    assert FollowupAction("action_handoff") not in events


def test_a_reference_keeps_its_reading_when_that_is_clearly_closer_to_a_passage(monkeypatch):
    terms = passage(
        "help/terms.txt", "Terms\n\nThese terms apply to orders placed on the website.", 0.53, "t1"
    )
    returns = passage(
        "policies/returns.md", "Returns\n\nSale items can be returned within 30 days.", 0.6, "r1"
    )
    found = {"returns": returns}

    class ByQuery(FakeKB):
        def search(self, query, k=5, mode="hybrid"):
            return [found["returns"]] if "(return policy)" in query else [terms]

    monkeypatch.setattr(knowledge_answer, "_knowledge", lambda: ByQuery([]))
    monkeypatch.setattr(knowledge_answer, "redis_client", lambda: MemoryRedis())
    typed = "does that apply to sale items too?"
    read = f"{typed} (return policy)"
    retrieval, _ = knowledge_answer.build_answer(read, [], 0.6, typed=typed, self_contained=0.5)
    assert retrieval.query == read and retrieval.hits == [returns]
    # the message alone, close enough and about as close: the customer's own words win
    found["returns"] = replace(returns, dense=0.55)
    retrieval, _ = knowledge_answer.build_answer(read, [], 0.6, typed=typed, self_contained=0.5)
    assert retrieval.query == typed and retrieval.hits == [terms]
    # ... unless the customer says the message goes on from the question before
    typed = "and does that apply to sale items too?"
    read = f"{typed} (return policy)"
    retrieval, _ = knowledge_answer.build_answer(read, [], 0.6, typed=typed, self_contained=0.5)
    assert retrieval.query == read and retrieval.hits == [found["returns"]]
    found["returns"] = replace(returns, dense=0.47)  # the message alone clearly closer: it wins
    retrieval, _ = knowledge_answer.build_answer(read, [], 0.6, typed=typed, self_contained=0.5)
    assert retrieval.query == typed and retrieval.hits == [terms]


class BagOfWords:
    """A sentence model that counts shared words: enough to tell which text is about what."""

    @staticmethod
    def words(text):
        return [w.strip(".,:") for w in text.lower().split() if w not in {"is", "the", "a", "with", "me"}]

    def embed_documents(self, texts):
        vocabulary = sorted({w for t in texts for w in self.words(t)})
        return [[self.words(t).count(w) for w in vocabulary] for t in texts]


def test_a_close_call_between_a_products_entry_and_a_policy_sends_the_answer_to_what_was_asked(monkeypatch):
    sweater = passage(
        "catalogue/apparel.md", "Apparel > Fjord Merino Sweater\n\nMerino wool, hand wash.", 0.43, "s1"
    )
    wrong = passage(
        "policies/damaged-or-missing.md",
        "Wrong items > I received the wrong item\n\nStart a return with the reason wrong item.",
        0.41,
        "w1",
    )

    class ByQuery(FakeKB):
        embeddings = BagOfWords()

        def search(self, query, k=5, mode="hybrid"):
            return [wrong] if " item" in query else [sweater]

    monkeypatch.setattr(knowledge_answer, "_knowledge", lambda: ByQuery([]))
    monkeypatch.setattr(knowledge_answer, "redis_client", lambda: MemoryRedis())
    retrieval, found = knowledge_answer.build_answer("you sent me the wrong merino sweater", [], 0.6)
    assert found["citations"][0]["source"] == "policies/damaged-or-missing.md"
    assert retrieval.hits == [wrong] and retrieval.query == "you sent me the wrong merino sweater"
    # the product's own entry answers a question about the product
    retrieval, found = knowledge_answer.build_answer("is the merino sweater hand wash", [], 0.6)
    assert found["citations"][0]["source"] == "catalogue/apparel.md"


async def test_a_correction_is_read_against_the_question_before_even_when_it_names_a_flow(
    kb, dispatcher, domain
):
    t = tracker(
        user("how long do i have", "out_of_scope", 0.5),
        gate_turn("how long do i have", route="out_of_scope"),
        user("no, I meant the return window", "get_refund", 0.99),
    )
    await ActionAnswerFromKnowledge().run(dispatcher, t, domain)
    meta = dispatcher.messages[-1]["custom"]
    assert meta["resolved"] == "ellipsis" and "return window" in meta["standalone"]
    assert routes(dispatcher) == ["knowledge"]


async def test_a_flow_that_takes_over_from_a_form_under_way_keeps_its_order_not_its_email(
    kb, dispatcher, domain
):
    kb.hits = []
    cancelling = [{"event": "active_loop", "name": "cancel_order_form"}, *VERIFIED_BEFORE]
    message = user("actually just track it instead", "track_order", 0.99, [("cancel_order", 0.0)])
    events = await ActionAnswerFromKnowledge().run(dispatcher, tracker(*cancelling, message), domain)
    assert events == [SlotSet("gate_flow", True), SlotSet("email", None)]
