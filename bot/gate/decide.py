"""The confidence gate: one decision per turn over all the evidence (bot/gate/evidence.py).

Routes:
- ``flow``: a scripted flow or scripted answer for the NLU intent;
- ``knowledge``: a grounded answer from the knowledge base;
- ``clarify``: offer the two or three most likely topics as buttons;
- ``handoff``: hand the conversation to a person (repeated failures);
- ``out_of_scope``: say politely that this is not something the assistant can help with.

Thresholds live in the brand's gate.yml (bot/gate/thresholds.py; written by `tandem gate
calibrate`), the intents that start flows and small talk in its flows.yml; nothing here
knows a brand. Every decision carries its inputs, so that anyone can see why the bot did
what it did.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bot.core.brand import Flows
from bot.gate.evidence import Evidence
from bot.gate.thresholds import Thresholds

ROUTES = ("flow", "knowledge", "clarify", "handoff", "out_of_scope")
NOT_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})  # Rasa's: never a flow of their own


@dataclass
class Decision:
    route: str
    reason: str
    evidence: Evidence
    intent: str | None = None  # the flow to follow (route flow)
    buttons: list[dict[str, str]] = field(default_factory=list)  # route clarify

    def to_dict(self) -> dict[str, Any]:
        evidence = asdict(self.evidence)
        for key in ("intent_ranking", "clf_ranking", "nlu_ranking"):
            ranking = getattr(self.evidence, key)
            evidence[key] = None if ranking is None else [[i, round(c, 3)] for i, c in ranking[:3]]
        for key in ("dense_top", "dense_margin", "sparse_top", "nn_similarity"):
            if evidence[key] is not None:
                evidence[key] = round(evidence[key], 3)
        return {
            "route": self.route,
            "reason": self.reason,
            "intent": self.intent,
            "evidence": evidence,
        }


def knowledge_supported(evidence: Evidence, thresholds: Thresholds) -> bool:
    knowledge = thresholds.knowledge
    if evidence.dense_top is None:
        return False
    if evidence.dense_top >= knowledge.min_dense:
        return True
    if evidence.names_product and knowledge.min_dense_product is not None:
        # "my kettle stopped working after a year, is it covered?": a message about what the
        # brand sells is in its domain whatever the NLU's out-of-scope examples resemble
        if evidence.dense_top >= knowledge.min_dense_product:
            return True
    if evidence.on_topic and knowledge.min_dense_on_topic is not None:
        # "do you have a shop in portland i could visit instead" after the FAQ's "Can I order
        # by phone?": the conversation's topic, where the NLU's out-of-scope examples are far;
        # "what time are you open on saturday" after the phone line: close to what was just said
        closest = max(evidence.dense_top, evidence.said_similarity or 0.0)
        if closest >= knowledge.min_dense_on_topic:
            return True
    return evidence.agree and evidence.dense_top >= knowledge.min_dense_agreeing


def clarify_buttons(evidence: Evidence, thresholds: Thresholds) -> list[dict[str, str]]:
    clarify, topics = thresholds.clarify, thresholds.topics
    buttons = [
        {"title": topics[intent], "payload": f"/{intent}"}
        for intent, confidence in evidence.intent_ranking
        if intent in topics and confidence >= clarify.min_candidate
    ]
    # the documents of the best passages, when these are close enough to be worth a button
    near = evidence.dense_top is not None and evidence.dense_top >= clarify.min_dense_titles
    for title in evidence.top_titles if near else []:
        if title and all(b["title"] != title for b in buttons):
            buttons.append({"title": title, "payload": title})
    return buttons[: clarify.max_buttons]


# similarity of a message to a training example written in the same words: the team has said
# what that message means, so documents never overrule it
SAME_AS_EXAMPLE = 0.98


def is_own_example(evidence: Evidence) -> bool:
    return (
        evidence.nn_similarity is not None
        and evidence.nn_intent == evidence.intent
        and evidence.nn_similarity >= SAME_AS_EXAMPLE
    )


def question_answered(evidence: Evidence, thresholds: Thresholds) -> bool:
    """A question about a flow's topic ("how long do I have to return stuff?") that a
    passage answers closely, closer than the flow's own examples come ("where is my order?"
    is a tracking example word for word): the customer asks about the policy, not to act."""
    limit = thresholds.knowledge.min_dense_flow_question
    over = thresholds.knowledge.min_dense_over_neighbour_question
    if limit is None or not evidence.question or evidence.dense_top is None or evidence.dense_top < limit:
        return False
    if is_own_example(evidence):
        return False
    return (
        over is None or evidence.nn_similarity is None or evidence.dense_top - evidence.nn_similarity >= over
    )


def closer_to_documents(evidence: Evidence, thresholds: Thresholds) -> bool:
    """The message is nearer a document passage than any training example of the flows ("half
    my order is missing" reads like the damaged-or-missing policy, not like a tracking
    request). A message about one order (its number), or one that says the customer wants
    something done ("i want to return some towels"), is about acting."""
    limit = thresholds.knowledge.min_dense_over_neighbour
    return bool(
        limit is not None
        and evidence.dense_top is not None
        and evidence.nn_similarity is not None
        and not evidence.names_record
        and not evidence.asks_to_act
        and not is_own_example(evidence)
        and evidence.dense_top - evidence.nn_similarity >= limit
    )


def neighbour_intent(evidence: Evidence, thresholds: Thresholds) -> str | None:
    """The nearest training example's intent, when it is close enough to trust: alone, or
    (a lower bar) when the NLU's best intent is the same."""
    neighbours = thresholds.neighbours
    if evidence.nn_similarity is None or evidence.nn_intent is None:
        return None
    limit = neighbours.min_similarity_intent
    if evidence.nn_intent == evidence.intent and neighbours.min_similarity_agreeing is not None:
        limit = neighbours.min_similarity_agreeing
    if limit is None or evidence.nn_similarity < limit:
        return None
    return evidence.nn_intent


def neighbour_disagrees(evidence: Evidence, thresholds: Thresholds) -> bool:
    """A training example of another intent is this close: the NLU's confidence is not trusted."""
    limit = thresholds.neighbours.min_similarity_veto
    return bool(
        limit is not None
        and evidence.nn_similarity is not None
        and evidence.nn_intent != evidence.intent
        and evidence.nn_similarity >= limit
    )


def far_from_training(evidence: Evidence, thresholds: Thresholds) -> bool:
    limit = thresholds.neighbours.max_similarity_out_of_scope
    return limit is not None and evidence.nn_similarity is not None and evidence.nn_similarity < limit


def blend(evidence: Evidence, thresholds: Thresholds) -> Evidence:
    """The intent ranking the gate decides on: DIET's and the embedding classifier's
    (bot/gate/neighbours.py) probabilities mixed, `nlu.embedding_weight` of the latter. Two
    models that err differently: DIET knows the team's words, the sentence model knows
    English. DIET's own ranking stays in `nlu_ranking`."""
    weight = float(thresholds.nlu.embedding_weight or 0.0)
    if not weight or not evidence.clf_ranking or evidence.nlu_ranking is not None:
        return evidence
    mixed: dict[str, float] = {}
    for ranking, share in ((evidence.intent_ranking, 1.0 - weight), (evidence.clf_ranking, weight)):
        for intent, confidence in ranking:
            mixed[intent] = mixed.get(intent, 0.0) + share * confidence
    ranking = sorted(mixed.items(), key=lambda item: -item[1])
    return replace(evidence, intent_ranking=ranking, nlu_ranking=evidence.intent_ranking)


# the intent whose scripted answer (the brand's answers.yml) takes a complaint: an apology and
# a person offered. An unhappy customer is never told "not something I can help with"; a
# brand without that answer keeps its out-of-scope reply (actions/knowledge_answer.py)
COMPLAINT = "complaint"


def out_of_scope(reason: str, evidence: Evidence) -> Decision:
    """Out of scope, unless the message reads as a complaint: then the complaint's answer."""
    if evidence.complains:
        return Decision(
            "flow", f"a complaint ({reason}): sorry, and a person offered", evidence, intent=COMPLAINT
        )
    return Decision("out_of_scope", reason, evidence)


def nlu_says_out_of_scope(evidence: Evidence, thresholds: Thresholds) -> bool:
    return evidence.intent == "out_of_scope" and evidence.confidence >= thresholds.out_of_scope.min_confidence


def unanswered(
    evidence: Evidence, thresholds: Thresholds, flows: Flows, handoff_after: int, sections: list[str]
) -> Decision:
    """The route when a passage is close (the gate chose knowledge) but no sentence of the
    passages answers: decided again without them. Where that says out of scope though the
    NLU does not, the customer is not turned away: the closest passages' `sections`
    (distinct, best first) are offered as buttons (one clicked asks its question)."""
    decision = decide(replace(evidence, dense_top=None), thresholds, flows, handoff_after)
    decision.reason = "no passage sentence answers the question; " + decision.reason
    seen = decision.evidence
    offered = [title for title in sections if title][: thresholds.clarify.max_buttons]
    if decision.route != "out_of_scope" or nlu_says_out_of_scope(seen, thresholds) or not offered:
        return decision
    return Decision(
        "clarify",
        "a passage is close but none answers the question: their sections are offered",
        seen,
        buttons=[{"title": title, "payload": title} for title in offered],
    )


FORM_READINGS = 3  # a question is about the form under way when its intent is among these readings


def about_form_under_way(evidence: Evidence, flows: Flows) -> bool:
    """A question asked while a form waits for an answer, with the form's own intent among
    its likeliest readings (the first `FORM_READINGS` of the gate's ranking)."""
    if not evidence.question or not evidence.active_form:
        return False
    own = flows.intent_of_form(evidence.active_form)
    return own is not None and any(intent == own for intent, _ in evidence.intent_ranking[:FORM_READINGS])


def decide(evidence: Evidence, thresholds: Thresholds, flows: Flows, handoff_after: int) -> Decision:
    """The route for this turn. `flows`: the brand's flow and small-talk intents (flows.yml);
    `handoff_after`: failed turns in a row that hand over."""
    evidence = blend(evidence, thresholds)
    if not evidence.on_topic and about_form_under_way(evidence, flows):
        # "wait, can i still change it after it ships?" while the address form waits: the
        # conversation's topic is what the form is doing, as it is a document just cited
        evidence = replace(evidence, on_topic=True)
    flow_intents, chitchat = flows.intents, flows.chitchat_intents
    not_intents = NOT_INTENTS | flows.slot_intents
    intent = evidence.intent
    far = far_from_training(evidence, thresholds)
    confident = (
        evidence.confidence >= thresholds.flow.min_confidence
        and evidence.margin >= thresholds.flow.min_margin
        and not far
        and not neighbour_disagrees(evidence, thresholds)
    )
    if confident and intent in flow_intents and question_answered(evidence, thresholds):
        return Decision("knowledge", f"a question about {intent} that a passage answers closely", evidence)
    if confident and intent in flow_intents and closer_to_documents(evidence, thresholds):
        return Decision("knowledge", f"closer to a passage than to any {intent} example", evidence)
    under_way = intent in flows.forms and flows.forms[intent].form == evidence.active_form
    if confident and under_way and knowledge_supported(evidence, thresholds):
        # "what's the return window again?" in the return form: the form goes on either way
        return Decision(
            "knowledge", f"a question about the {intent} under way that a passage answers", evidence
        )
    if confident and intent in flow_intents | chitchat:
        return Decision("flow", f"NLU is confident in {intent}", evidence, intent=intent)
    if knowledge_supported(evidence, thresholds):
        return Decision("knowledge", "a passage answers the question closely", evidence)
    if confident and intent and intent not in not_intents:
        return Decision(
            "flow", f"NLU is confident in {intent} and no passage answers better", evidence, intent=intent
        )
    neighbour = neighbour_intent(evidence, thresholds)
    if neighbour and neighbour not in not_intents and (neighbour == intent or neighbour in chitchat):
        return Decision(
            "flow", f"the nearest training example is {neighbour}, and close", evidence, intent=neighbour
        )
    failed = evidence.failed_turns + 1
    if failed >= handoff_after:
        return Decision("handoff", f"{failed} failed turns in a row", evidence)
    if nlu_says_out_of_scope(evidence, thresholds):
        return out_of_scope("NLU says out of scope and no passage is close", evidence)
    if far:
        return out_of_scope("far from every training example and no passage is close", evidence)
    buttons = clarify_buttons(evidence, thresholds)
    if len(buttons) >= 2:
        return Decision("clarify", "several topics are likely, none clearly", evidence, buttons=buttons)
    return out_of_scope("no intent and no passage is close enough", evidence)
