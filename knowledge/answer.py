"""Grounded answers: retrieve, (generate,) verify, cite. Plain Python; actions/ is the glue.

An answer is built from the retrieved passages only. A generator (the voice model) may
write it; whatever writes it, :mod:`knowledge.verify` checks it against the passages it
cites, and an answer that fails is never returned: the extractive answer (the passages'
own sentences, quoted) replaces it, and when no sentence answers, there is no answer
(the gate then clarifies or hands over).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from knowledge.spelling import slips
from knowledge.store import Hit
from knowledge.verify import (
    NEGATION,
    Scorer,
    Verdict,
    content_words,
    extractive_answer,
    facts,
    own_heading,
    sentences,
    verify,
    without_courtesy,
)

Generator = Callable[[str, list[str], list[str], str], str]  # (question, passages, history, quote) -> answer
VERSION = "extractive-31"  # part of the cache key: answers made another way are not reused
MIN_AGREEMENT = 0.6  # MiniLM cosine between a written answer and the quote it may replace
# share of the quote's words beyond the question's that a written answer keeps (the 101 written
# answers of the QA benchmark keep 0.8 or more: the voice rewords its courtesy, not the answer)
MIN_KEPT = 0.5
# a passage this much less similar to the question than the best one is not quoted: hybrid
# search ranks it high for shared words ("covered" in the outdoor catalogue's "Covered by our
# 3-year outdoor warranty", for a kettle's warranty), not for what it is about
MAX_DENSE_GAP = 0.2


def embedding_scorer(embeddings: Any) -> Scorer:
    """Cosine similarity of a question to texts, with the knowledge base's embedding model."""
    import numpy as np

    def score(question: str, texts: list[str]) -> list[float]:
        vectors = np.asarray(embeddings.embed_documents([question, *texts]), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        return (vectors[1:] @ vectors[0]).tolist()

    return score


@dataclass
class Retrieval:
    query: str
    hits: list[Hit]
    # what the conversation is about beyond the query's words (the products a reading named and
    # their kinds): it only tells apart the items of a list (knowledge.verify.extractive_answer)
    about: tuple[str, ...] = ()

    @property
    def dense_top(self) -> float | None:
        scores = [h.dense for h in self.hits if h.dense is not None]
        return max(scores) if scores else None

    @property
    def sparse_top(self) -> float | None:
        scores = [h.sparse for h in self.hits if h.sparse is not None]
        return max(scores) if scores else None

    @property
    def dense_margin(self) -> float | None:
        """Best dense score minus the best dense score of another document."""
        ranked = sorted((h for h in self.hits if h.dense is not None), key=lambda h: -(h.dense or 0.0))
        if not ranked:
            return None
        other = next((h.dense for h in ranked if h.source != ranked[0].source), None)
        return (ranked[0].dense or 0.0) - (other if other is not None else 0.0)

    @property
    def agree(self) -> bool:
        """Dense and sparse search put the same document first."""
        dense = next((h.source for h in self.hits if h.dense_rank == 1), None)
        sparse = next((h.source for h in self.hits if h.sparse_rank == 1), None)
        return dense is not None and dense == sparse

    def led_by(self, title: str) -> Retrieval:
        """The same hits, those of the document titled `title` first (in their order): a
        reference points back to that document ("how many days does that one take" after
        the delivery prices: its delivery times, not Canada's)."""
        if not title:
            return self
        hits = sorted(self.hits, key=lambda h: h.metadata.get("title", "") != title)
        return Retrieval(self.query, hits, self.about)

    def sources(self) -> list[str]:
        return list(dict.fromkeys(h.source for h in self.hits))

    def titles(self) -> list[str]:
        return list(dict.fromkeys(h.metadata.get("title", "") for h in self.hits))

    def sections(self) -> list[str]:
        """The section of each passage, as a customer could ask for it: its heading (help
        pages' headings are questions), or its document's title."""
        return list(
            dict.fromkeys(
                (h.metadata.get("heading_path") or "").rsplit(">", 1)[-1].strip()
                or h.metadata.get("title", "")
                for h in self.hits
            )
        )

    def scores(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "dense_top": r(self.dense_top),
            "dense_margin": r(self.dense_margin),
            "sparse_top": r(self.sparse_top),
            "agree": self.agree,
        }


@dataclass
class Answer:
    text: str
    mode: str  # generated | extractive
    citations: list[dict[str, str]]
    verdict: Verdict
    rejected: dict[str, Any] | None = None  # a generated answer that failed the check
    sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "mode": self.mode,
            "citations": self.citations,
            "verification": self.verdict.to_dict(),
            "rejected": self.rejected,
        }


def retrieve(kb: Any, question: str, k: int = 5) -> Retrieval:
    """The best passages for a standalone question: a follow-up is read against the
    conversation first (knowledge.followup), not searched with the question before it."""
    return Retrieval(question, kb.search(question, k=k, mode="hybrid"))


def citation(hit: Hit) -> dict[str, str]:
    meta = hit.metadata
    title = meta.get("title", hit.source)
    if meta.get("heading_path"):
        title = f"{title} > {meta['heading_path']}"
    return {"title": title, "url": meta.get("url", ""), "source": hit.source}


def _cite(hits: Sequence[Hit]) -> list[dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for hit in hits:
        entry = citation(hit)
        seen.setdefault(entry["url"] or entry["source"], entry)
    return list(seen.values())


def answer(
    question: str,
    retrieval: Retrieval,
    min_support: float,
    product_names: Sequence[str] = (),
    generator: Generator | None = None,
    history: Sequence[str] = (),
    scorer: Scorer | None = None,
    passages: int = 3,
    min_agreement: float = MIN_AGREEMENT,
    said: Sequence[str] = (),
    own_names: Sequence[str] = (),
) -> Answer | None:
    """A verified answer from the best passages, or None when they do not answer.
    `scorer`: sentence similarity (the embedding model), to pick the sentences to quote
    and to let a paraphrasing sentence count as supported.

    The passages' own sentences that answer (the quote) come first; a `generator` (the
    voice model) then writes the answer from the passages the quote comes from (those it is
    checked against: a distractor only leads it astray, and a longer prompt is a later first
    word), shown the quote as what the passages answer with (a 135M model left to find the
    sentences itself picks the price line for "is the bottle insulated?", or quotes one
    sentence too many), and it replaces the quote only when the verifier passes it against
    the passages the quote comes from, it keeps every fact of the quote, and it says what
    the quote says (`min_agreement`). `said`: the answer just before in the conversation,
    whose sentences are not quoted again while others answer
    (knowledge.verify.extractive_answer); `own_names`: the brand's names, which a heading
    may say without being about a case the customer did not ask about."""
    hits = _close_enough(_lead_first(retrieval.query, retrieval.hits, passages))
    if not hits:
        return None
    texts = [h.text for h in hits]
    similarity = (lambda sentence, candidates: max(scorer(sentence, candidates))) if scorer else None
    quoted = quote(retrieval.query, texts, product_names, scorer, said, own_names, retrieval.about)
    if not quoted:
        return None  # no sentence answers: nothing is written either
    used = [hits[i] for i in dict.fromkeys(i for i, _ in quoted)]
    text = as_text(sentence for _, sentence in quoted)
    verdict = verify(text, [h.text for h in used], min_support, product_names, similarity)
    if not verdict.ok:  # cannot happen for verbatim sentences; checked all the same
        return None
    extractive = Answer(text, "extractive", _cite(used), verdict, sources=[h.source for h in used])
    if generator is None:
        return extractive
    written = generator(question, [h.text for h in used], list(history), text).strip()
    checked = verify(written, [h.text for h in used], min_support, product_names, similarity)
    problems = (
        _off_the_quote(written, text, product_names, scorer, min_agreement, question) if checked.ok else []
    )
    if written and checked.ok and not problems:
        return Answer(written, "generated", _cite(used), checked, sources=[h.source for h in used])
    extractive.rejected = {"text": written, "verification": checked.to_dict(), "problems": problems}
    return extractive


def quote(
    question: str,
    texts: Sequence[str],
    product_names: Sequence[str] = (),
    scorer: Scorer | None = None,
    said: Sequence[str] = (),
    own_names: Sequence[str] = (),
    about: Sequence[str] = (),
) -> list[tuple[int, str]]:
    """The passages' sentences that answer, as (passage index, sentence), as an extractive
    answer sends them (a product passage's first one led by the product's name); empty when
    none answers. The grounded training examples (bot/seed/grounded.py) reply with them too."""
    quoted = extractive_answer(
        question,
        texts,
        scorer=scorer,
        said=said,
        product_names=product_names,
        own_names=own_names,
        about=about,
    )
    return list(zip((i for i, _ in quoted), _named(quoted, texts, product_names), strict=True))


NUMBERED = re.compile(r"\d{1,2}[.)]\s")


def as_text(sentences: Iterable[str]) -> str:
    """Quoted sentences as one answer: a numbered step on a line of its own ("how do i set up
    the tent" gets the list as a list, in the widget and every channel), the rest joined."""
    text = ""
    for sentence in sentences:
        text += ("\n" if text and NUMBERED.match(sentence) else " " if text else "") + sentence
    return text


def _product_heading(passage: str, product_names: Sequence[str]) -> str | None:
    """The product a passage is about: its heading's last part, when that is a product name."""
    topic = own_heading(passage)
    return next((n for n in product_names if n.lower() == topic.lower()), None)


def _named(quoted: list[tuple[int, str]], texts: list[str], product_names: Sequence[str]) -> list[str]:
    """The quoted sentences, the first of each passage about one product led by its name when
    none of them says it ("Ridge 4-Person Tent: Sleeps 4; 4.6 kg; ..." rather than a line that
    could be any tent's)."""
    out, led = [], set()
    for index, sentence in quoted:
        name = _product_heading(texts[index], product_names)
        says = name is not None and any(name.lower() in x.lower() for i, x in quoted if i == index)
        if name is not None and not says and index not in led:
            sentence = f"{name}: {sentence}"
        led.add(index)
        out.append(sentence)
    return out


# words that name a document's subject as a whole ("return policy?", "warranty info")
WHOLE_TOPIC = content_words("policy policies info information rules terms details")


def _with_closest(hits: Sequence[Hit], passages: int) -> list[Hit]:
    """The best `passages` hits of the hybrid ranking, the one closest in meaning (dense
    similarity: the passage the gate judged the message on) last in place of the last when
    the words ranked it lower ("what currency are prices in for canada": the Canada pages
    say "Canada" often, the terms of sale say "Canadian dollars")."""
    best = list(hits[:passages])
    closest = max((h for h in hits if h.dense is not None), key=lambda h: h.dense, default=None)
    if closest is None or closest in best or not best:
        return best
    return [*best[: passages - 1], closest]


def _lead_first(question: str, hits: Sequence[Hit], passages: int) -> list[Hit]:
    """The best `passages` hits; the best document's opening section first when the message
    names only that document's subject (its title's words: "retrun policy?" of "Returns and
    refunds"): a document leads with what it is about, the 30-day window, not how to start
    a return."""
    best = _with_closest(hits, passages)
    if not best:
        return best
    asked = content_words(question)
    if not asked or not asked <= content_words(best[0].metadata.get("title", "")) | WHOLE_TOPIC:
        return best
    same = [h for h in hits if h.source == best[0].source]
    lead = min(same, key=lambda h: h.metadata.get("chunk_index", 0))
    return [lead, *(h for h in best if h is not lead)][:passages]


def _close_enough(hits: Sequence[Hit]) -> list[Hit]:
    """The hits whose dense similarity is within `MAX_DENSE_GAP` of the best one's (a hit
    without a dense score is kept)."""
    best = max((h.dense for h in hits if h.dense is not None), default=None)
    if best is None:
        return list(hits)
    return [h for h in hits if h.dense is None or h.dense >= best - MAX_DENSE_GAP]


CUSTOMERS_OWN = re.compile(r"\b(?:my|mine)\b", re.IGNORECASE)  # the assistant owns no order or invoice
# a question a yes or no answers ("do you ship to canada", "and can I pay by cheque?")
POLAR_QUESTION = re.compile(
    r"^\W*(?:(?:and|so|but|ok|okay|also)\W+)?(?:do|does|did|is|are|was|were|can|could|will|would|"
    r"should|may|must|have|has|am)\b",
    re.IGNORECASE,
)
OPENING_ANSWER = re.compile(r"^\W*(yes|yeah|yep|no|nope)\b", re.IGNORECASE)


def _opening_answer(text: str) -> str | None:
    """ "yes" or "no" when the text opens with one."""
    match = OPENING_ANSWER.match(text)
    return None if match is None else ("yes" if match.group(1).lower().startswith("y") else "no")


def _off_the_quote(
    written: str,
    quoted: str,
    product_names: Sequence[str],
    scorer: Scorer | None,
    min_agreement: float,
    question: str = "",
) -> list[str]:
    """Why a written answer that passed verification still may not replace the quote: it
    must keep every fact of the sentences that answer, and say what they say (a supported
    sentence about something else, or the question said back, is not the answer), with the
    same yes or no and the same negation ("Yes, we do not match prices" for "No, we do not",
    "We accept cash on delivery" for "We do not accept ...": every word is in the passage,
    the meaning is not), once (a small model caught in a loop writes a supported sentence
    again and again), with the quote's words that answer the question ("soles" for "does
    that cover the soles") and at least `MIN_KEPT` of the rest of them (the answer, not the
    question said back), no word of the quote misspelt ("perlocale" for "percale", "Prices
    includes"), and no fact the quote (or the question) does not say. Courtesy
    ("Certainly!", "No worries!") says nothing and is not compared."""
    written = without_courtesy(written, product_names)  # "No worries!" says no no
    found = facts(written, product_names)
    have = {f.key for f in found}
    problems = [f"lost {f.text}" for f in facts(quoted, product_names) if f.key not in have]
    asked, says, wrote = content_words(question), content_words(quoted), content_words(written)
    # the quote's words that answer what was asked ("soles" of "does that cover the soles")
    dropped = (asked & says) - wrote
    if dropped:
        problems.append(f"drops what was asked: {', '.join(sorted(dropped))}")
    problems += slips(quoted, written)  # "cotton perlocale" for "cotton percale"
    # ... and what it says beyond the question, the answer itself: "If you are between sizes for
    # the hiking boots." keeps no word of "choose the larger one"
    beyond = says - asked
    if beyond and len(beyond & wrote) < MIN_KEPT * len(beyond):
        problems.append("says the question back without the quote's answer")
    # a fact the quote does not say answers something else: the tent's 3 years written with the
    # kettle's 2 for "how long is the warranty on a tent?" (then quoted again for "and for a kettle?")
    allowed = {f.key for f in facts(quoted + " " + question, product_names)}
    problems += [f"adds {f.text}" for f in found if f.key not in allowed]
    answered, quote_answered = _opening_answer(written), _opening_answer(quoted)
    if answered and quote_answered and answered != quote_answered:
        problems.append(f"says {answered} where the quote says {quote_answered}")
    if answered and not quote_answered and not POLAR_QUESTION.match(question):
        # "Yes. Prices for Canada include duties" for "what currency are prices in for canada"
        problems.append(f"says {answered} to a question that asks no yes or no")
    if CUSTOMERS_OWN.search(written) and not CUSTOMERS_OWN.search(quoted):
        problems.append("speaks as the customer")  # "My invoice is attached ..." for "Your invoice ..."
    if bool(NEGATION.search(written)) != bool(NEGATION.search(quoted)):
        problems.append(
            "negates where the quote does not" if NEGATION.search(written) else "drops the quote's not"
        )
    seen: set[str] = set()
    for sentence in sentences(written):
        key = " ".join(re.findall(r"\w+", sentence.lower()))
        if key in seen:
            problems.append(f"says again {sentence!r}")
            break
        seen.add(key)
    if scorer is not None:
        agreement = scorer(written, [quoted])[0]
        if agreement < min_agreement:
            problems.append(f"says something else than the quote (similarity {agreement:.2f})")
    return problems
