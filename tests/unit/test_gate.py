"""The gate: one route per turn from NLU, retrieval and failure evidence."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core.brand import brand_from
from bot.gate import decide as gate
from bot.gate.decide import blend
from bot.gate.evidence import Evidence, gather
from bot.gate.thresholds import NLU, Clarify, load_thresholds

BRAND = brand_from("brightbay")
T = load_thresholds(BRAND.gate_file)
FLOWS = BRAND.flows()


def decide(evidence: Evidence, thresholds, handoff_after: int) -> gate.Decision:
    """The gate with the sample brand's flows.yml."""
    return gate.decide(evidence, thresholds, FLOWS, handoff_after)


def ev(ranking=(), **kwargs) -> Evidence:
    return Evidence(text="...", intent_ranking=list(ranking), **kwargs)


def route(evidence: Evidence, handoff_after: int = 2) -> str:
    return decide(evidence, T, handoff_after).route


def test_a_confident_flow_intent_follows_its_flow_even_with_a_close_passage():
    decision = decide(ev([("track_order", 0.9), ("get_refund", 0.05)], dense_top=0.7), T, 2)
    assert (decision.route, decision.intent) == ("flow", "track_order")


def test_a_close_passage_gives_a_knowledge_answer():
    assert route(ev([("nlu_fallback", 0.3)], dense_top=0.62, agree=False)) == "knowledge"
    assert route(ev([("check_refund_policy", 0.8), ("x", 0.1)], dense_top=0.6)) == "knowledge"


def test_dense_and_sparse_agreeing_lower_the_bar():
    below = T.knowledge.min_dense - 0.05
    assert route(ev([], dense_top=below, agree=True)) == "knowledge"
    assert route(ev([], dense_top=below, agree=False)) != "knowledge"


def test_a_confident_info_intent_without_a_passage_gets_its_scripted_answer():
    decision = decide(ev([("check_payment_methods", 0.9), ("x", 0.02)], dense_top=0.1), T, 2)
    assert (decision.route, decision.intent) == ("flow", "check_payment_methods")


def test_out_of_scope_when_nlu_says_so_and_no_passage_is_close():
    assert route(ev([("out_of_scope", 0.8), ("greet", 0.1)], dense_top=0.15)) == "out_of_scope"


def test_several_likely_topics_are_offered_as_buttons():
    thresholds = replace(T, clarify=Clarify(min_candidate=0.1, max_buttons=3))
    decision = decide(
        ev([("track_order", 0.35), ("get_refund", 0.3), ("cancel_order", 0.2)], dense_top=0.2), thresholds, 3
    )
    assert decision.route == "clarify"
    assert [b["payload"] for b in decision.buttons] == ["/track_order", "/get_refund", "/cancel_order"]


def test_documents_are_offered_only_when_their_passages_are_close_enough():
    thresholds = replace(T, clarify=Clarify(min_candidate=0.3, max_buttons=3, min_dense_titles=0.35))
    titles = ["Payments", "Shipping"]
    near = decide(ev([("greet", 0.2)], dense_top=0.4, top_titles=titles), thresholds, 3)
    assert near.route == "clarify" and [b["title"] for b in near.buttons] == titles
    far = decide(ev([("greet", 0.2)], dense_top=0.3, top_titles=titles), thresholds, 3)
    assert far.route == "out_of_scope" and not far.buttons


def test_repeated_failures_hand_over():
    assert route(ev([("out_of_scope", 0.8)], dense_top=0.1, failed_turns=1), handoff_after=2) == "handoff"
    assert (
        route(ev([("out_of_scope", 0.8)], dense_top=0.1, failed_turns=0), handoff_after=2) == "out_of_scope"
    )


@pytest.mark.parametrize("route_", ["flow", "knowledge", "clarify", "handoff", "out_of_scope"])
def test_every_route_is_reachable_and_explains_itself(route_):
    cases = {
        "flow": ev([("greet", 0.95), ("x", 0.01)]),
        "knowledge": ev([], dense_top=0.9),
        "clarify": ev([("track_order", 0.4), ("get_refund", 0.35)], dense_top=0.1),
        "handoff": ev([], failed_turns=5),
        "out_of_scope": ev([("out_of_scope", 0.9)], dense_top=0.0),
    }
    decision = decide(cases[route_], T, 3)
    assert decision.route == route_ and decision.reason
    assert decision.to_dict()["evidence"]["text"] == "..."


def q(text, ranking=(), **kwargs) -> Evidence:
    """The evidence of a message as the action server gathers it (how it is phrased)."""
    return replace(gather(text, list(ranking), numbers=BRAND.order_numbers()), **kwargs)


@pytest.mark.parametrize(
    "text, question",
    [
        ("how long do i have to return stuff", True),
        ("can i cancel after it shipped?", True),
        ("whats the return window", True),
        ("I want to return my jacket", False),
        ("cancel order BB-100002", False),
        ("my order hasn't arrived yet", False),
        ("ok which cards do you take then", True),  # after the words it opens with
        ("and is gift wrap free", True),
        ("ok can you cancel it", False),  # asks the assistant to act
    ],
)
def test_a_question_is_told_from_a_request(text, question):
    assert q(text).question is question


def test_a_question_about_a_flow_topic_that_a_passage_answers_gets_the_answer():
    limit = T.knowledge.min_dense_flow_question
    ranking = [("get_refund", 0.99), ("x", 0.0)]
    asked = decide(q("how long do i have to return stuff", ranking, dense_top=limit + 0.02), T, 2)
    assert asked.route == "knowledge"
    # the same closeness, but a request to act: the flow starts
    request = decide(q("I want to return stuff", ranking, dense_top=limit + 0.02), T, 2)
    assert (request.route, request.intent) == ("flow", "get_refund")
    # a question no passage answers closely: the flow starts (it is the best help there is)
    loose = decide(q("how do I return stuff", ranking, dense_top=limit - 0.1), T, 2)
    assert loose.route == "flow"


def test_a_question_that_is_a_flow_example_word_for_word_follows_the_flow():
    """'where is my order?' is phrased as a question and the tracking help page is close, but
    it is one of track_order's own examples: it asks to act."""
    ranking = [("track_order", 0.99), ("x", 0.0)]
    close = T.knowledge.min_dense_flow_question + 0.1
    decision = decide(
        q("where is my order?", ranking, dense_top=close, nn_intent="track_order", nn_similarity=1.0), T, 2
    )
    assert (decision.route, decision.intent) == ("flow", "track_order")
    # even when a passage is as close as can be
    own = q(
        "can I still cancel my order?", [("cancel_order", 0.99)], dense_top=0.99, nn_intent="cancel_order"
    )
    own.nn_similarity = 1.0
    assert decide(own, T, 2).route == "flow"


def test_far_from_every_training_example_is_out_of_scope_not_clarify():
    hesitant = [("create_account", 0.34), ("delete_account", 0.28), ("x", 0.1)]
    near = T.neighbours.max_similarity_out_of_scope
    far = decide(
        q("create emergency phone numbers list", hesitant, dense_top=0.3, nn_similarity=near - 0.1), T, 3
    )
    assert far.route == "out_of_scope"
    loose = replace(T, clarify=Clarify(min_candidate=0.1, max_buttons=3))
    close = decide(q("create an account pls", hesitant, dense_top=0.3, nn_similarity=near + 0.1), loose, 3)
    assert close.route == "clarify"


def test_a_close_training_example_settles_small_talk_the_nlu_hesitates_on():
    trust = T.neighbours.min_similarity_intent
    below = T.flow.min_confidence - 0.1
    hesitant = [("thank", below), ("goodbye", 0.02)]
    decision = decide(q("cheers mate", hesitant, nn_intent="thank", nn_similarity=trust + 0.01), T, 3)
    assert (decision.route, decision.intent) == ("flow", "thank")
    doubtful = decide(q("cheers mate", hesitant, nn_intent="thank", nn_similarity=trust - 0.2), T, 3)
    assert doubtful.route != "flow"


@pytest.mark.parametrize(
    "text",
    [
        "can you cancel my order?",
        "where to track order 732201349959",
        "where is BB-100019?",
        "could you change it",
    ],
)
def test_a_request_to_act_is_not_a_question_about_policy(text):
    assert q(text).question is False


def test_a_question_clause_later_in_the_message_counts():
    assert q("item came broken do i pay for the return shipping").question


def test_the_embedding_classifier_is_blended_into_the_ranking_by_its_weight():
    diet = [("cancel_order", 0.5), ("track_order", 0.45)]
    classifier = [("track_order", 0.9), ("cancel_order", 0.05)]
    half = replace(T, nlu=NLU(embedding_weight=0.5))
    mixed = blend(ev(diet, clf_ranking=classifier), half)
    assert mixed.intent == "track_order" and mixed.confidence == pytest.approx(0.675)
    assert mixed.nlu_ranking == diet  # DIET's own ranking is kept for the record
    assert blend(mixed, half) is mixed  # blending twice changes nothing
    off = replace(T, nlu=NLU(embedding_weight=0.0))
    assert blend(ev(diet, clf_ranking=classifier), off).intent == "cancel_order"
    # the blended ranking is what the gate decides on, and what it reports
    decision = decide(ev(diet, clf_ranking=classifier), half, 3)
    assert decision.evidence.intent == "track_order"
    assert decision.to_dict()["evidence"]["nlu_ranking"][0] == ["cancel_order", 0.5]


def test_a_message_naming_a_kind_of_product_sold_is_answered_from_a_lower_bar():
    # "my kettle stopped working after a year, is it covered?": NLU's out-of-scope examples
    # are casual questions too, but a message about what the brand sells is in its domain
    between = (T.knowledge.min_dense_product + T.knowledge.min_dense) / 2
    oos = [("out_of_scope", 0.7), ("check_refund_policy", 0.1)]
    assert route(ev(oos, dense_top=between, names_product=True)) == "knowledge"
    assert route(ev(oos, dense_top=between, names_product=False)) == "out_of_scope"
    below = T.knowledge.min_dense_product - 0.05
    assert route(ev(oos, dense_top=below, names_product=True)) == "out_of_scope"


def test_a_message_on_the_document_just_cited_is_answered_from_a_lower_bar():
    # "do you have a shop in portland i could visit instead" after the FAQ's answer about
    # ordering by phone: the conversation's topic, though NLU reads it as out of scope
    between = (T.knowledge.min_dense_on_topic + T.knowledge.min_dense) / 2
    oos = [("out_of_scope", 0.7), ("contact_customer_service", 0.1)]
    assert route(ev(oos, dense_top=between, on_topic=True)) == "knowledge"
    assert route(ev(oos, dense_top=between, on_topic=False)) == "out_of_scope"
    assert route(ev(oos, dense_top=T.knowledge.min_dense_on_topic - 0.05, on_topic=True)) == "out_of_scope"
    # "what time are you open on saturday" after the phone line: far from the whole contact
    # list's passage, close to the line just said
    far = T.knowledge.min_dense_on_topic - 0.15
    close = T.knowledge.min_dense_on_topic + 0.05
    assert route(ev(oos, dense_top=far, on_topic=True, said_similarity=close)) == "knowledge"
    assert route(ev(oos, dense_top=far, on_topic=False, said_similarity=close)) == "out_of_scope"
    assert route(ev(oos, dense_top=far, on_topic=True, said_similarity=far)) == "out_of_scope"


def test_a_question_about_the_form_under_way_is_answered_from_the_on_topic_bar():
    # "wait, can i still change it after it ships?" while the address form asks for the new
    # address: the NLU hesitates between a fee question and the form's own intent
    between = (T.knowledge.min_dense_on_topic + T.knowledge.min_dense) / 2
    split = [("check_cancellation_fee", 0.44), ("change_shipping_address", 0.23), ("change_order", 0.11)]
    asked = {"dense_top": between, "question": True}
    assert route(ev(split, active_form="change_address_form", **asked)) == "knowledge"
    assert route(ev(split, **asked)) != "knowledge"  # no form under way
    assert route(ev(split, active_form="return_form", **asked)) != "knowledge"  # another form's
    # not a question, or the form's intent not among the likeliest readings: no lower bar
    assert route(ev(split, active_form="change_address_form", dense_top=between)) != "knowledge"
    far = [*split[:1], ("change_order", 0.2), ("complaint", 0.15), ("change_shipping_address", 0.1)]
    assert route(ev(far, active_form="change_address_form", **asked)) != "knowledge"
    below = {**asked, "dense_top": T.knowledge.min_dense_on_topic - 0.05}
    assert route(ev(split, active_form="change_address_form", **below)) != "knowledge"


class _Found:  # knowledge.answer.Retrieval's face to the gate
    dense_top, dense_margin, sparse_top, agree = 0.48, 0.1, 5.0, False

    def sources(self):
        return ["help/general-faq.yml", "help/contact.md"]

    def titles(self):
        return ["General faq", "Contact us"]


def test_on_topic_means_the_best_passage_is_in_the_document_the_answer_before_cited():
    assert gather("a shop in portland?", [], retrieval=_Found(), cited="General faq").on_topic
    assert not gather("a shop in portland?", [], retrieval=_Found(), cited="Contact us").on_topic
    assert not gather("a shop in portland?", [], retrieval=_Found()).on_topic  # nothing cited before


def test_the_kinds_of_product_a_brand_sells_come_from_its_catalogue_names():
    kinds = BRAND.product_kinds()
    assert {"kettle", "tent", "lamp", "towel", "socks", "knife"} <= kinds.kinds
    assert not {"set", "pack", "person", "harbor"} & kinds.kinds
    assert kinds.mentioned("my kettle stopped working") and kinds.mentioned("the Beacon lamps")
    assert kinds.mentioned("are the knives sharp") and kinds.mentioned("do the boots run small")
    assert not kinds.mentioned("how long do wire transfers take")
    evidence = gather("is the tent waterproof", [], products=kinds)
    assert evidence.names_product and not gather("hello there", [], products=kinds).names_product


def test_a_message_that_asks_to_act_follows_its_flow_even_near_a_passage():
    # "i want to return some towels" reads close to the returns policy; it asks to act
    request = gather("i want to return some towels", [("get_refund", 0.95), ("x", 0.01)])
    assert request.asks_to_act and not gather("half my order is missing", []).asks_to_act
    near = replace(request, dense_top=0.66, nn_similarity=0.5)
    assert route(near) == "flow"
    assert route(replace(near, asks_to_act=False)) == "knowledge"  # "closer to a passage"


def test_a_question_about_the_flow_under_way_that_a_passage_answers_is_answered():
    # "what's the return window again?" in the return form: the form goes on either way
    asked = ev([("get_refund", 0.9), ("x", 0.05)], dense_top=T.knowledge.min_dense + 0.05)
    assert route(replace(asked, active_form="return_form")) == "knowledge"
    assert route(replace(asked, active_form=None)) == "flow"  # no form: asked to start one
    assert route(replace(asked, active_form="return_form", dense_top=0.2)) == "flow"


def test_a_complaint_nothing_answers_gets_the_complaint_answer_not_out_of_scope():
    # "the box was empty": the NLU's out-of-scope examples are casual too
    unhappy = gather("the box was empty", [("out_of_scope", 0.95), ("inform", 0.02)])
    assert unhappy.complains
    decision = decide(replace(unhappy, dense_top=0.2), T, 2)
    assert (decision.route, decision.intent) == ("flow", gate.COMPLAINT)
    # a defect the customer insists on, after a return was refused
    assert gather("but they're falling apart, that's a defect surely", []).complains
    calm = gather("what's the capital of peru", [("out_of_scope", 0.95), ("inform", 0.02)])
    assert not calm.complains and route(replace(calm, dense_top=0.2)) == "out_of_scope"
