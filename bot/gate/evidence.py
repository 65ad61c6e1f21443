"""What the gate decides on, gathered in one place for every caller.

The evidence of a turn is the NLU intent ranking, whether a form is active, the retrieval
scores (best dense similarity, margin, whether dense and sparse search agree on the
document), how the message is phrased (a question about how things work, or about one
order), the nearest NLU training example and the embedding classifier's ranking
(bot/gate/neighbours.py), and the consecutive failed turns. The action server, the
calibration and the benchmarks all build it with :func:`gather`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from knowledge.followup import COMPLAINS, OPENERS

# a question, also after words it opens with ("ok which cards do u take then", "and is it free?")
QUESTION = re.compile(
    r"\?\s*$|^\W*" + OPENERS + r"(how|what|whats|when|where|which|who|why|is|are|am|do|does|did|can|could|"
    r"will|would|should|may|must|have|has|any)\b|\b(do|does|can|will|must|should) (i|we)\b",
    re.IGNORECASE,
)
# "can you cancel it?" asks the assistant to act, unless a condition makes it a question about
# the rules ("can you cancel it if it was mispriced?")
REQUEST = re.compile(r"^\W*" + OPENERS + r"(can|could|would) (you|u)\b|\butell\b", re.IGNORECASE)
CONDITION = re.compile(r"\b(if|after|once|before|unless|whether)\b", re.IGNORECASE)
# "i want to return some towels", "i'd like to cancel it": asking to act, whatever it names
ASKS_TO_ACT = re.compile(
    r"^\W*(?:(?:ok(?:ay)?|so|hi|hello|hey|please|um+)\W+)*"
    r"(?:i want to|i wanna|i'd like to|id like to|i would like to|i need to|i have to|let me|help me)\b",
    re.IGNORECASE,
)
# a long number names one record (an order, an account): the message is about acting on it
LONG_NUMBER = re.compile(r"\b\d{6,}\b")


class RecordNumbers(Protocol):
    """How the brand's record numbers look (bot.core.brand.OrderNumbers), or its products'
    kinds (bot.core.brand.ProductKinds): whether a text mentions one."""

    def mentioned(self, text: str) -> bool: ...


def names_record(text: str, numbers: RecordNumbers | None = None) -> bool:
    """The message names one record: the brand's order number, or any long number."""
    return bool(LONG_NUMBER.search(text)) or (numbers is not None and numbers.mentioned(text))


def is_question(text: str, about_record: bool = False) -> bool:
    """Phrased as a question about how things work ("can I cancel after it shipped?"),
    not as a request to act ("can you cancel it?", "where is order BB-100019?")."""
    text = text.strip()
    if not QUESTION.search(text) or about_record:
        return False
    return not REQUEST.search(text) or bool(CONDITION.search(text))


@dataclass
class Evidence:
    text: str
    intent_ranking: list[tuple[str, float]]  # NLU's, best first, without nlu_fallback
    question: bool = False  # phrased as a question about how things work (is_question)
    names_record: bool = False  # names one order (or another record) by its number
    names_product: bool = False  # names a kind of product the brand sells ("my kettle ...")
    asks_to_act: bool = False  # says the customer wants something done ("i want to return ...")
    complains: bool = False  # reads as a complaint ("the box was empty", "nobody answered my email")
    active_form: str | None = None
    dense_top: float | None = None  # best passage's cosine similarity
    dense_margin: float | None = None  # to the best passage of another document
    sparse_top: float | None = None
    agree: bool = False  # dense and sparse search rank the same document first
    # its best passage is in the document the answer just before cited, or it asks about the form
    # under way (decide.about_form_under_way): the conversation's topic
    on_topic: bool = False
    # cosine similarity to the closest sentence of the answer just before (on topic only): a
    # question about one line of a list reads far from the whole list's passage
    said_similarity: float | None = None
    top_sources: list[str] = field(default_factory=list)  # documents of the best passages
    top_titles: list[str] = field(default_factory=list)
    failed_turns: int = 0  # consecutive failed turns before this one
    nn_intent: str | None = None  # intent of the nearest NLU training example
    nn_similarity: float | None = None  # its cosine similarity (in-scope examples only)
    clf_ranking: list[tuple[str, float]] = field(default_factory=list)  # the embedding classifier's
    nlu_ranking: list[tuple[str, float]] | None = None  # DIET's own, once blended (see decide.blend)

    @property
    def intent(self) -> str | None:
        return self.intent_ranking[0][0] if self.intent_ranking else None

    @property
    def confidence(self) -> float:
        return self.intent_ranking[0][1] if self.intent_ranking else 0.0

    @property
    def margin(self) -> float:
        if len(self.intent_ranking) < 2:
            return self.confidence
        return self.intent_ranking[0][1] - self.intent_ranking[1][1]


def nlu_ranking(ranking: list[Any]) -> list[tuple[str, float]]:
    """Rasa's intent ranking (dicts with name and confidence, or pairs), best first,
    without nlu_fallback (the FallbackClassifier's verdict, which the gate makes itself)."""
    pairs = [
        (r["name"], float(r.get("confidence") or 0.0)) if isinstance(r, dict) else (r[0], float(r[1]))
        for r in ranking
    ]
    return sorted(((n, c) for n, c in pairs if n != "nlu_fallback"), key=lambda p: -p[1])


def gather(
    text: str,
    intent_ranking: list[tuple[str, float]],
    *,
    numbers: RecordNumbers | None = None,
    products: RecordNumbers | None = None,
    retrieval: Any = None,
    opinion: Any = None,
    active_form: str | None = None,
    failed_turns: int = 0,
    cited: str = "",
) -> Evidence:
    """The evidence of one message. `retrieval` is knowledge.answer.Retrieval (or None when
    the knowledge base could not be asked), `opinion` a neighbours.Opinion (or None without a
    sentence model), `numbers` the brand's order numbers, `cited` the title of the document
    the answer just before cited (the conversation's topic)."""
    about_record = names_record(text, numbers)
    evidence = Evidence(
        text=text,
        intent_ranking=intent_ranking,
        question=is_question(text, about_record),
        names_record=about_record,
        names_product=products is not None and products.mentioned(text),
        asks_to_act=bool(ASKS_TO_ACT.search(text)),
        complains=bool(COMPLAINS.search(text)),
        active_form=active_form,
        failed_turns=failed_turns,
    )
    if opinion is not None:
        evidence.nn_intent, evidence.nn_similarity = opinion.nn_intent, opinion.nn_similarity
        evidence.clf_ranking = opinion.ranking
    if retrieval is not None:
        evidence.dense_top = retrieval.dense_top
        evidence.dense_margin = retrieval.dense_margin
        evidence.sparse_top = retrieval.sparse_top
        evidence.agree = retrieval.agree
        evidence.top_sources = retrieval.sources()[:3]
        evidence.top_titles = retrieval.titles()[:3]
        evidence.on_topic = bool(cited) and evidence.top_titles[:1] == [cited]
    return evidence
