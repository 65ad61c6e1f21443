"""`action_answer_from_knowledge`: the gate and the grounded answer, for every turn that is
not a confident scripted flow (questions, NLU fallback, out of scope, mid-form questions).

Thin glue: the decision is bot/gate/, the answer knowledge/answer.py, the brand's flow and
small-talk intents its flows.yml. The route and the
scores travel with the reply as a `custom` message:
``{"route": ..., "reason": ..., "citations": [...], "scores": {...}}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import identity, reading, streaming
from actions.handoff import consecutive_failed_turns, hand_over
from actions.info import render_answer
from actions.services import redis_client
from bot.core import policy, privacy
from bot.core.brand import Flows
from bot.core.settings import current_brand
from bot.gate.decide import decide, unanswered
from bot.gate.evidence import gather, names_record, nlu_ranking
from bot.gate.thresholds import load_thresholds
from knowledge.followup import CONTINUES, CORRECTION, Resolved
from knowledge.outage import StoreUnavailable

logger = logging.getLogger(__name__)
gate_log = logging.getLogger("tandem.gate")


def user_history(tracker: Tracker, turns: int = 3) -> list[str]:
    """Earlier user messages of this conversation, newest first (the current one excluded),
    their personal data masked."""
    texts = [e.get("text") or "" for e in tracker.events if e.get("event") == "user"]
    return [privacy.mask(t) for t in reversed(texts[:-1]) if t and not t.startswith("/")][:turns]


def intent_ranking(tracker: Tracker) -> list[tuple[str, float]]:
    pairs = nlu_ranking(tracker.latest_message.get("intent_ranking") or [])
    intent = tracker.latest_message.get("intent") or {}
    if not pairs and intent.get("name"):
        pairs = nlu_ranking([intent])
    return pairs


def _knowledge():
    from knowledge.base import knowledge_base

    return knowledge_base()


def _voice_for_answers():
    """The voice model when it is loaded and writes knowledge answers (the brand's voice.yml)."""
    from adapters.serve import loaded_voice_model

    voice = loaded_voice_model()
    if voice is None or not (voice.settings.get("knowledge_answers") or {}).get("enabled"):
        return None
    return voice


def said_similarity(question: str, said: list[str]) -> float | None:
    """The cosine similarity of `question` to the closest sentence the answer just before said
    (its courtesy left out), or None without a sentence model; blocking."""
    from knowledge.answer import embedding_scorer
    from knowledge.verify import sentences, without_courtesy

    embeddings = getattr(_knowledge(), "embeddings", None)
    lines = [x for text in said for x in sentences(without_courtesy(text))]
    if embeddings is None or not lines:
        return None
    return max(embedding_scorer(embeddings)(question, lines))


def embedding_opinion(question: str):
    """The nearest NLU training example and the embedding classifier's ranking
    (bot/gate/neighbours.py), or None without a sentence model; blocking."""
    from bot.gate.neighbours import nlu_neighbours

    model, name = _sentence_model()
    if model is None:
        return None
    return nlu_neighbours(model, name).opinions([question])[0]


def _sentence_model():
    """(the sentence model, its name): the knowledge base's; while its store does not answer,
    the same model loaded on its own, so the gate keeps its embedding signals (a message far
    from every example is still told from a flow's)."""
    try:
        kb = _knowledge()
        return kb.embeddings, kb.settings.embedding_model
    except StoreUnavailable:
        from knowledge.config import KnowledgeSettings
        from knowledge.embeddings import embedding_model

        settings = KnowledgeSettings()
        return embedding_model(
            settings.embedding_model, settings.embedding_batch_size
        ), settings.embedding_model


def read_message(question: str, tracker: Tracker, names_record: bool) -> tuple[str, Resolved]:
    """(the message mended, its standalone question: actions/reading.py); blocking."""
    try:
        kb = _knowledge()
    except StoreUnavailable:  # said once, where the search fails
        kb = None
    except Exception:  # no knowledge base: the rules without the embedding model
        logger.exception("no knowledge base to read the message with")
        kb = None
    return reading.read(question, tracker, names_record, kb)


# "yes please ...", "sure", "ok do that": agreeing to what the answer before offered
AGREES = re.compile(r"^\W*(?:yes|yeah|yep|yup|sure|please|go ahead)\b", re.IGNORECASE)
CLEARLY_CLOSER = 0.05  # cosine: a reading's best passage this much closer replaces the other's


def build_answer(
    question: str,
    history: list[str],
    min_support: float,
    typed: str = "",
    self_contained: float = 1.0,
    said: list[str] | None = None,
    within: str = "",
) -> tuple[Any, Any]:
    """(retrieval, the extractive answer or None) for the standalone `question`. `typed`: the
    message as the customer wrote it (mended), when it may point back to the conversation:
    searched too, and kept when a passage is `self_contained` close to it alone, unless the
    question as read is `CLEARLY_CLOSER` to one ("does that apply to sale items too?" alone
    finds the terms of sale, read with the return policy before it the returns page); a
    message that `CONTINUES` the one before ("and ...") is read with it unless the message
    alone is clearly closer. The
    question with its products said as "item" (knowledge.followup.without_products) is
    searched too, and its passages are kept when the best is `CLEARLY_CLOSER`; the sentences
    are still chosen for the question as asked ("the warranty on a tent": the outdoor line).
    `said`: the answer just before, whose sentences are not quoted again while others
    answer. `within`: the title of the document the question points back to (a reference,
    knowledge.followup): its passages are answered from first, unless the message alone
    was kept. The voice model writes the answer only once the gate has chosen it
    (`voice_answer`). Blocking: run in a thread."""
    from knowledge.answer import Retrieval, retrieve
    from knowledge.followup import without_products

    kb = _knowledge()
    retrieval = retrieve(kb, question)
    alone = retrieve(kb, typed) if typed and typed != question else None
    retrieval = retrieval.led_by(within)
    if alone is not None and (alone.dense_top or 0.0) >= self_contained:
        # "and do i get anything for signing up?": the customer says it goes on from the
        # question before, so the reading keeps a close call and the message alone must win it
        lead = -CLEARLY_CLOSER if CONTINUES.match(typed) else CLEARLY_CLOSER
        if (retrieval.dense_top or 0.0) < (alone.dense_top or 0.0) + lead:
            # as typed; the products the reading named, and their kinds, still tell the items
            # of a list apart ("warranty on that?" after the glass kettle: the kitchen line)
            retrieval, question = Retrieval(typed, alone.hits, products_read(typed, question)), typed
    generic = without_products(question, current_brand().product_names())
    if generic == question:
        return retrieval, _answer(question, retrieval, history, min_support, None, said=said)
    # "my lamp arrived broken": the policy, not the lamp's catalogue entry
    policy = retrieve(kb, generic)
    lead = (policy.dense_top or 0.0) - (retrieval.dense_top or 0.0)
    on_policy = Retrieval(question, policy.hits)  # its sentences: for the product asked about
    if lead >= CLEARLY_CLOSER:  # no sentence answers the kettle: the policy's, for "item"
        found = _answer(question, on_policy, history, min_support, None, said=said)
        return on_policy, found or _answer(generic, policy, history, min_support, None, said=said)
    found = _answer(question, retrieval, history, min_support, None, said=said)
    if lead > -CLEARLY_CLOSER:
        # a close call ("u sent me the wrong sweater": the sweater's entry, or the wrong-item
        # policy?): the answer that says more about what was asked, products aside, is sent
        other = _answer(question, on_policy, history, min_support, None, said=said) or _answer(
            generic, policy, history, min_support, None, said=said
        )
        if other is not None and (found is None or _addresses(generic, other, found) > 0):
            return on_policy, other
    return retrieval, found


def products_read(typed: str, reading: str) -> tuple[str, ...]:
    """The products a reading named that the message as typed does not, and their categories
    (products.yml: "Harbor Glass Kettle", "kitchen")."""
    categories = current_brand().product_categories()
    named = [
        name for name in categories if name.lower() in reading.lower() and name.lower() not in typed.lower()
    ]
    return (*named, *dict.fromkeys(categories[name] for name in named))


def _addresses(question: str, one: dict[str, Any], other: dict[str, Any]) -> float:
    """How much closer `one` answer's text is to `question` than `other`'s (cosine, the
    knowledge base's sentence model; 0 without one)."""
    from knowledge.answer import embedding_scorer

    embeddings = getattr(_knowledge(), "embeddings", None)
    if embeddings is None:
        return 0.0
    first, second = embedding_scorer(embeddings)(question, [one["text"], other["text"]])
    return first - second


def voice_answer(
    question: str, retrieval: Any, history: list[str], min_support: float, on_text=None, said=None
) -> dict[str, Any] | None:
    """The answer written by the voice model from the same passages (streamed to `on_text`
    as it is written) when it passes verification, else the extractive one; None without a
    voice model that writes answers. Blocking: run in a thread."""
    voice = _voice_for_answers()
    if voice is None:
        return None
    return _answer(question, retrieval, history, min_support, voice, on_text, said)


def _answer(
    question: str,
    retrieval: Any,
    history: list[str],
    min_support: float,
    voice,
    on_text=None,
    said: list[str] | None = None,
):
    """The answer, from the cache when the same passages answered the same question after
    the same answer (`said`: the one just before, not quoted again)."""
    from knowledge.answer import VERSION, answer, embedding_scorer
    from knowledge.answer_cache import AnswerCache

    brand = current_brand()
    kb = _knowledge()
    cache = AnswerCache(redis_client())
    maker = f"voice-{voice.id}" if voice is not None else "no-generator"
    key = AnswerCache.key(
        retrieval.query,
        [
            VERSION,
            maker,
            *(h.metadata.get("_id", "") for h in retrieval.hits[:3]),
            *(said or []),
            *retrieval.about,
        ],
    )
    cached = cache.get(key)
    if cached is not None:
        return cached
    scorer = embedding_scorer(kb.embeddings) if kb.embeddings is not None else None
    result = answer(
        question,
        retrieval,
        min_support,
        brand.product_names(),
        generator=voice.knowledge_generator(on_text) if voice is not None else None,
        history=history,
        scorer=scorer,
        said=said or (),
        own_names=brand.own_names(),
    )
    if result is None:
        return None
    value = result.to_dict()
    cache.put(key, value, result.sources)
    return value


class ActionAnswerFromKnowledge(Action):
    def name(self) -> str:
        return "action_answer_from_knowledge"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        brand = current_brand()
        thresholds, flows = load_thresholds(brand.gate_file), brand.flows()
        # what the knowledge base, the models, the cache and the log see: personal data masked
        typed = privacy.mask(tracker.latest_message.get("text") or "")
        history = user_history(tracker)
        min_support = float(thresholds.verification.min_sentence_support)
        loop = asyncio.get_running_loop()
        names = names_record(typed, brand.order_numbers())
        mended, resolved = await loop.run_in_executor(None, read_message, typed, tracker, names)
        ranking = intent_ranking(tracker)
        corrects = CORRECTION.match(mended) is not None  # "no, I meant the return window"
        if resolved.kind != "record" and not corrects and _names_flow(ranking, thresholds, flows):
            # "ok also where's my order": it says what it wants
            resolved = resolved.as_typed(mended, keep_said=False)
        question = resolved.text
        if question != typed:  # NLU's reading of what the customer meant, not of what they typed
            intents = await loop.run_in_executor(None, reading.nlu_intents, question)
            ranking = ranking if intents is None else intents
        elsewhere = None  # NLU's reading of the answer before or of one clause, not of the message
        if resolved.kind == "record" and resolved.said:  # an order number after an answer
            elsewhere = await loop.run_in_executor(None, asked_to_act, resolved.said, thresholds, flows)
        elif resolved.said and AGREES.match(mended) and not _names_flow(ranking, thresholds, flows):
            # "yes please" to an answer that says what the assistant can do for them
            elsewhere = await loop.run_in_executor(
                None, asked_to_act, resolved.said, thresholds, flows, False
            )
        elif len(reading.clauses(mended)) > 1 and not _names_flow(ranking, thresholds, flows):
            elsewhere = await loop.run_in_executor(None, request_within, mended, thresholds, flows.intents)
        if elsewhere and resolved.kind != "record":  # it says what it wants: read as it is
            resolved = resolved.as_typed(mended)
        ranking = elsewhere or ranking
        question = resolved.text
        retrieval, found, store_down = None, None, None
        try:
            typed_too = mended if resolved.kind == "reference" else ""
            retrieval, found = await loop.run_in_executor(
                None,
                build_answer,
                question,
                history,
                min_support,
                typed_too,
                float(thresholds.knowledge.min_dense),
                resolved.said,
                resolved.within,
            )
        except StoreUnavailable as error:  # a Qdrant server down: only flows and handoffs go on
            store_down = error
            logger.warning("%s; deciding without it", error)
        except Exception:  # no knowledge base (not built, model missing): the gate decides without it
            logger.exception("knowledge retrieval failed; deciding without it")
        if retrieval is not None and retrieval.query != question:  # the message alone read better
            question = retrieval.query
            resolved = resolved.as_typed(question)
        opinion = None
        try:
            opinion = await loop.run_in_executor(None, embedding_opinion, question)
        except Exception:
            logger.exception("no embedding opinion on the message; deciding without it")
        evidence = gather(
            question,
            ranking,
            numbers=brand.order_numbers(),
            products=brand.product_kinds(),
            retrieval=retrieval,
            opinion=opinion,
            active_form=(tracker.active_loop or {}).get("name"),
            failed_turns=consecutive_failed_turns(tracker.events) - 1,
            cited=resolved.cited,
        )
        if elsewhere:  # the embedding classifier read the whole message: not what was read
            evidence.clf_ranking = []
        if evidence.on_topic and resolved.said:
            evidence.said_similarity = await loop.run_in_executor(
                None, said_similarity, question, resolved.said
            )
        handoff_after = int(policy.load_policy()["handoff"]["failed_turns_before_handoff"])
        decision = decide(evidence, thresholds, flows, handoff_after)
        if store_down is not None and decision.route not in ("flow", "handoff"):
            # an answer, a question back or "not something I can help with" would be a guess
            # without the documents: the customer is asked to try again in a moment (the
            # action server answers 503, Rasa's channels send their "having trouble" reply)
            raise store_down
        if decision.route == "knowledge" and found is None:  # close, but no answer: do not guess
            sections = retrieval.sections() if retrieval is not None else []
            decision = unanswered(evidence, thresholds, flows, handoff_after, sections)
        if decision.route == "knowledge":
            try:  # the voice model writes it, streamed to the widget; checked, else the quote stays
                draft = streaming.publisher(tracker.sender_id)
                written = await loop.run_in_executor(
                    None, voice_answer, question, retrieval, history, min_support, draft, resolved.said
                )
                found = written or found
            except Exception:
                logger.exception("the voice model could not write the answer; the extractive one is sent")
        record = {**decision.to_dict(), "typed": typed, "read": resolved.to_dict()}
        gate_log.info("gate %s", json.dumps(privacy.mask_value(record), ensure_ascii=False))
        meta = {
            "route": decision.route,
            "reason": decision.reason,
            "standalone": question,
            "resolved": resolved.kind,
            "scores": _scores(decision, retrieval),
        }
        return self.reply(dispatcher, tracker, decision, found, meta, flows, domain)

    def reply(
        self, dispatcher, tracker, decision, found, meta, flows: Flows, domain=None
    ) -> list[dict[str, Any]]:
        """The reply and events of the route. `gate_flow` tells the rules whether to start
        (or switch to) the flow of the message's own intent: flow intents reach the forms only
        through this gate (bot/seed/rules.py)."""
        message_intent = (tracker.latest_message.get("intent") or {}).get("name")
        starts = (
            decision.route == "flow" and decision.intent == message_intent and message_intent in flows.forms
        )
        events = self._reply(dispatcher, tracker, decision, found, meta, starts, flows)
        forms = {flow.form for flow in flows.forms.values()}
        if starts or any(e.get("event") == "followup" and e.get("name") in forms for e in events):
            # a flow starts: the customer proves who they are again (actions/identity.py); one
            # that takes over from a form under way keeps the order it was about (not a proof:
            # its email is asked again)
            keep = identity.given_now(tracker)
            if (tracker.active_loop or {}).get("name"):
                keep = keep | {"order_number"}
            events = [*identity.forget(domain, keep, tracker), *events]
        return [SlotSet("gate_flow", starts), *events]

    def _reply(
        self, dispatcher, tracker, decision, found, meta, starts: bool, flows: Flows
    ) -> list[dict[str, Any]]:
        route = decision.route
        if route == "knowledge":
            dispatcher.utter_message(text=found["text"])
            dispatcher.utter_message(
                json_message={**meta, "citations": found["citations"], "mode": found["mode"]}
            )
            return []
        if route == "flow":
            intent = decision.intent or ""
            dispatcher.utter_message(json_message={**meta, "intent": intent})
            if starts:
                return []  # the rules start the form (gate_flow)
            if intent in flows.forms and not tracker.active_loop.get("name"):
                return [FollowupAction(flows.forms[intent].form)]
            message_intent = (tracker.latest_message.get("intent") or {}).get("name")
            if intent in flows.intents and intent not in flows.forms and intent != message_intent:
                return [FollowupAction(flows.flows[intent].action)]  # read in a clause, or a "yes"
            if intent in flows.chitchat:
                dispatcher.utter_message(response=flows.chitchat[intent])
                return []
            scripted = render_answer(intent)
            if scripted is not None:
                dispatcher.utter_message(text=scripted["text"], buttons=scripted["buttons"])
                return []
            route = "clarify"  # a flow intent mid-form, or one with no scripted answer
        if route == "handoff":
            dispatcher.utter_message(json_message=meta)
            return hand_over(dispatcher, tracker, "failed_turns")
        if route == "clarify" and decision.buttons:
            dispatcher.utter_message(response="utter_clarify", buttons=decision.buttons)
            dispatcher.utter_message(json_message=meta)
            return []
        dispatcher.utter_message(response="utter_out_of_scope")
        dispatcher.utter_message(json_message={**meta, "route": "out_of_scope"})
        return []


def asked_to_act(
    said: list[str], thresholds, flows: Flows, forms_only: bool = True
) -> list[tuple[str, float]] | None:
    """NLU's reading of the answer just before (whole, else its likeliest clause), when it
    confidently asks the customer to start a flow ("Start a return with the reason damaged
    ...", "... ask the assistant to pass you to a person"): the record number or the "yes"
    that follows it is for that flow. `forms_only`: only a flow that takes a record (a
    form). None otherwise, or when Rasa does not answer. Blocking: run in a thread."""
    wanted = frozenset(flows.forms) if forms_only else flows.intents
    return request_within(" ".join(said), thresholds, wanted)


def request_within(text: str, thresholds, wanted: frozenset[str]) -> list[tuple[str, float]] | None:
    """NLU's reading of `text`, or else of its likeliest clause, when it is confidently one of
    the `wanted` intents ("i already asked the neighbours and it's been 3 days. get me a real
    person": read whole, the NLU hesitates; its last clause is a request for a person). None
    otherwise, or when Rasa does not answer. Blocking: run in a thread."""
    parts = reading.clauses(text)
    parts = [text, *(parts if len(parts) > 1 else [])]
    found = []
    for part in parts:
        ranking = reading.nlu_intents(part)
        if ranking and ranking[0][0] in wanted and ranking[0][1] >= thresholds.flow.min_confidence:
            if part is text:
                return ranking
            found.append(ranking)
    return max(found, key=lambda r: r[0][1], default=None)


def _names_flow(ranking: list[tuple[str, float]], thresholds, flows: Flows) -> bool:
    """NLU is confident the message itself asks for a flow or is small talk."""
    if not ranking:
        return False
    intent, confidence = ranking[0]
    return intent in flows.intents | flows.chitchat_intents and confidence >= thresholds.flow.min_confidence


def _scores(decision, retrieval) -> dict[str, Any]:
    ev = decision.evidence
    scores: dict[str, Any] = {
        "intent": ev.intent,
        "intent_confidence": round(ev.confidence, 3),
        "intent_margin": round(ev.margin, 3),
        "nlu_intent": (ev.nlu_ranking or ev.intent_ranking or [(None, 0.0)])[0][0],
        "clf_intent": ev.clf_ranking[0][0] if ev.clf_ranking else None,
        "question": ev.question,
        "nn_intent": ev.nn_intent,
        "nn_similarity": None if ev.nn_similarity is None else round(ev.nn_similarity, 3),
        "failed_turns": ev.failed_turns,
    }
    if retrieval is not None:
        scores.update(retrieval.scores())
    return scores
