"""Check an answer against the passages it cites, independently of the model that wrote it.

Two checks, both needed for an answer to be sent:
1. **Facts**: every number, price, percentage, duration, date, URL, e-mail address and
   product name in the answer must appear in the cited passages (numbers compared as
   numbers: "$4.95" matches "4.95 USD", "thirty days" matches "30 days").
2. **Support**: each sentence of the answer must be supported by the passages: the share
   of its content words (lightly stemmed) found in them, or, when an embedding model is
   given, the best cosine similarity to one passage sentence, whichever is higher. The
   threshold is data (the brand's gate.yml, `verification.min_sentence_support`).

Nothing here generates text: a failed check makes the caller fall back to an extractive
answer (:func:`extractive_answer`) or to clarify/handoff.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from knowledge.sparse import STOPWORDS

URL = re.compile(r"\bhttps?://[^\s<>()\"']+[^\s<>()\"'.,;:!?]")
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
MONTHS = "january february march april may june july august september october november december".split()
MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
DATE = re.compile(
    rf"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{2,4}}|{MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH}(?:,?\s+\d{{4}})?)",
    re.IGNORECASE,
)
# a minus sign only right before the digits ("-5°C"; not the dash of "1 - 5 days" or "5-8")
NUMBER = re.compile(r"(?<![\w.])(?:[-−](?=\d))?[$€£]?\s?\d+(?:[.,]\d+)*(?:\s?%)?")
UNIT = re.compile(
    r"\s*(?:-|to|–)?\s*(?:business\s+|working\s+|calendar\s+)?"
    r"(minute|hour|day|week|month|year|%|percent|usd|eur|dollar|item|order|"
    r"°\s?[cf]|°|kg|cm|mm|ml|litre|liter|watt|w|l)(?:e?s)?(?!\w)",
    re.IGNORECASE,
)
UNIT_NAMES = {"percent": "%", "dollar": "usd", "litre": "l", "liter": "l", "watt": "w"}
WORD_NUMBERS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100}
WORD_NUMBER = re.compile(r"\b(" + "|".join(sorted(WORD_NUMBERS, key=len, reverse=True)) + r")\b", re.I)
# a sentence that says no or not ("We do not match prices", "A shipped order can no longer ...")
NEGATION = re.compile(
    r"\b(?:no|not|never|cannot|none|nothing)\b|n't\b|\b(?:has|had|is|was|does|did|do|have|are|were|wo|ca)nt\b",
    re.IGNORECASE,
)
# the courtesy that says yes ("Certainly!"): wrong before a no or to a complaint (adapters.guards)
YES_WORDS = r"sure|of course|certainly|absolutely|no problem(?: at all)?|no worries|understood"
# a sentence of pure courtesy, which states nothing a passage could support or contradict
COURTESY = re.compile(
    rf"(?:{YES_WORDS}|"
    r"happy to help|glad to help|good question|great question|happy shopping|"
    r"thanks for (?:asking|your question)|thank you(?: for reaching out(?: to us)?)?|"
    r"(?:we're|we are|i'm|i am) here to help|i hope (?:this|that) helps|"
    r"is there anything else i can help you with|let me know if you have any other questions)"
    r"[.!?]*",
    re.IGNORECASE,
)
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class Fact:
    kind: str  # number, date, url, email, product
    text: str  # as written in the answer
    key: str  # normalised, compared with the passages' keys


@dataclass
class Verdict:
    ok: bool
    support: float  # the weakest sentence's support, 0..1
    unsupported_facts: list[Fact] = field(default_factory=list)
    weak_sentences: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "support": round(self.support, 3),
            "unsupported_facts": [f.text for f in self.unsupported_facts],
            "weak_sentences": [[s, round(v, 3)] for s, v in self.weak_sentences],
        }


def _number_key(raw: str) -> str:
    digits = re.sub(r"[$€£%\s]", "", raw).replace("−", "-")
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", digits):  # 1,299.00
        digits = digits.replace(",", "")
    digits = digits.replace(",", ".")
    try:
        value = float(digits)
    except ValueError:
        return digits
    return f"{value:g}"


def _unit_after(text: str, end: int) -> str:
    match = UNIT.match(text, end)
    if not match:
        return ""
    unit = match.group(1).lower().replace(" ", "")
    return UNIT_NAMES.get(unit, unit)


def facts(text: str, product_names: Iterable[str] = ()) -> list[Fact]:
    """The checkable facts of a text: numbers (with their unit), dates, URLs, e-mails,
    and the given product names."""
    found: list[Fact] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    for kind, pattern in (("url", URL), ("email", EMAIL)):
        for m in pattern.finditer(text):
            found.append(Fact(kind, m.group(0), m.group(0).lower().rstrip("/")))
            taken.append(m.span())
    for m in DATE.finditer(text):
        if free(*m.span()):
            found.append(Fact("date", m.group(0), _date_key(m.group(0))))
            taken.append(m.span())
    for m in NUMBER.finditer(text):
        if free(*m.span()) and any(c.isdigit() for c in m.group(0)):
            raw = m.group(0).strip()
            unit = "%" if raw.endswith("%") else _unit_after(text, m.end())
            if raw[0] in "$€£":
                unit = "usd" if raw[0] == "$" else unit
            found.append(Fact("number", raw, _number_key(raw) + (f" {unit}" if unit else "")))
            taken.append(m.span())
    for m in WORD_NUMBER.finditer(text):
        if free(*m.span()) and m.group(0).lower() not in ("one", "zero"):  # "one of", "no one"
            unit = _unit_after(text, m.end())
            if unit:  # "thirty days": a quantity; "two options" is not checked
                found.append(Fact("number", m.group(0), f"{WORD_NUMBERS[m.group(0).lower()]:g} {unit}"))
    lowered = text.lower()
    for name in product_names:
        if name and name.lower() in lowered:
            found.append(Fact("product", name, name.lower()))
    return found


def _date_key(raw: str) -> str:
    text = raw.lower().replace(",", " ").replace(".", " ")
    iso = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", raw)
    if iso:
        return f"{int(iso.group(2))}-{int(iso.group(3))}"
    month = next((i + 1 for i, m in enumerate(MONTHS) if re.search(rf"\b{m[:3]}", text)), None)
    day = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\b", text)
    if month and day:
        return f"{month}-{int(day.group(1))}"
    return re.sub(r"\s+", " ", text).strip()


def fact_keys(passages: Sequence[str], product_names: Iterable[str] = ()) -> set[str]:
    keys: set[str] = set()
    for passage in passages:
        for fact in facts(passage, product_names):
            keys.add(fact.key)
            if fact.kind == "number":
                keys.add(fact.key.split(" ")[0])  # "30" alone also supports "30" alone
    return keys


def fact_supported(fact: Fact, keys: set[str]) -> bool:
    if fact.key in keys:
        return True
    if fact.kind == "number":
        value, _, unit = fact.key.partition(" ")
        # a bare number in the answer is supported by the same number with any unit
        return not unit and any(k.split(" ")[0] == value for k in keys)
    return False


SOFT_BREAK = re.compile(r"(?<!\n)\n(?!\s*(?:[-*•]\s|\d+[.)]\s|#|\n|[A-Z]:))")


def courtesy(sentence: str, product_names: Iterable[str] = ()) -> bool:
    """A sentence of pure courtesy ("Happy to help.", "Certainly!"): it claims nothing, needs
    no passage and is no support."""
    return bool(COURTESY.fullmatch(sentence.strip())) and not facts(sentence, product_names)


def without_courtesy(text: str, product_names: Iterable[str] = ()) -> str:
    """The text without its sentences of pure courtesy: what it says."""
    names = list(product_names)
    return " ".join(x for x in sentences(text) if not courtesy(x, names))


def sentences(text: str) -> list[str]:
    """Sentences, and list items; a line wrapped inside a paragraph is joined first."""
    text = SOFT_BREAK.sub(" ", text)
    return [s.strip(" -*•") for s in SENTENCE.split(text) if s and len(s.strip(" -*•")) > 2]


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            # "shipped", "shipping" -> "ship", as "ships"; "called", "missed" keep their pair
            if suffix != "s" and len(stem) >= 4 and stem[-1] == stem[-2] and stem[-1] not in "aeioulsz":
                stem = stem[:-1]
            return stem
    return word


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1}


Similarity = Callable[[str, list[str]], float]  # (sentence, passage sentences) -> best cosine


def verify(
    answer: str,
    passages: Sequence[str],
    min_support: float,
    product_names: Iterable[str] = (),
    similarity: Similarity | None = None,
) -> Verdict:
    names = list(product_names)
    keys = fact_keys(passages, names)
    unsupported = [f for f in facts(answer, names) if not fact_supported(f, keys)]
    passage_words = set().union(*(content_words(p) for p in passages)) if passages else set()
    passage_sentences = [s for p in passages for s in sentences(p)]
    scored: list[tuple[str, float]] = []
    for sentence in sentences(answer):
        if courtesy(sentence, names):
            continue
        words = content_words(sentence)
        lexical = len(words & passage_words) / len(words) if words else 1.0
        semantic = similarity(sentence, passage_sentences) if similarity and passage_sentences else 0.0
        scored.append((sentence, max(lexical, semantic)))
    weakest = min((v for _, v in scored), default=0.0)
    weak = [(s, v) for s, v in scored if v < min_support]
    return Verdict(
        ok=bool(scored) and not unsupported and not weak,
        support=weakest,
        unsupported_facts=unsupported,
        weak_sentences=weak,
    )


Scorer = Callable[[str, list[str]], list[float]]  # (question, texts) -> similarity of each


# an answer's yes or no ("Not yet.", "No, ...") is about the question it was written under
POLARITY = re.compile(r"(yes|no|not)\b", re.IGNORECASE)
# a heading in the customer's words that tells their situation ("My item arrived damaged", "I
# forgot my password"): like a question heading, the text under it is the answer to it
SITUATION = re.compile(r"\b(?:my|i|i'm|i've|me)\b", re.IGNORECASE)
SAME_QUESTION = 0.8  # similarity of a customer's question to a heading that asks the same
# ... to a heading that asks nearly the same: a bare yes or no under it, and nothing more, is
# quoted after the heading ("wat about paying in instalments, like 3 months")
CLOSE_QUESTION = 0.6


def _for_another_question(quoted: list[str], heading: str) -> list[str]:
    """An opening that starts with a yes or no, quoted for a question other than its
    heading's: a bare yes or no is left out; one that goes on is preceded by the heading."""
    first, rest = quoted[0], quoted[1:]
    return rest if _bare(first) else [f"{heading} {first}", *rest]


def own_heading(passage: str) -> str:
    """A passage's own heading: the last part of its heading path ("" without one)."""
    heading, _, body = passage.partition("\n\n")
    return heading.rsplit(">", 1)[-1].strip() if body else ""


def _bare(sentence: str) -> bool:
    """A yes or no with next to nothing after it ("Not yet."): it answers only its heading."""
    return bool(POLARITY.match(sentence)) and len(sentence.split()) <= 4


# a passage whose heading names a case ("How long does delivery to Canada take?") loses this
# much against the others when the question asks the heading without the name: "how long does
# delivery take" asks about delivery in general, and the heading's question is otherwise closer
# to it than any general passage's sentence
UNASKED_NAME = 0.3
# a yes or no quoted for a question other than the customer's, after its heading ("Can I order
# by phone? No, ... help you over the phone at ..." for "can u give me ur phone number") loses
# this much: it answers its own heading first, and a sentence that answers the customer's
# question outright ("Phone: +1 ...") reads better. A heading close to the customer's
# question (`close_question`) is not another question
ANOTHER_QUESTION = 0.1
SAME_WORDS = 0.15  # weight of the share of the question's content words a candidate has
# a passage whose heading tells a case ("The order has already shipped") that the question asks
# ("can i still change it after it ships?") and no other passage's heading says wins this much:
# the general section above it ("Can I change the address of an order? Yes, while ...") is
# otherwise as close to the question as the case's own answer
ASKED_CASE = 0.15
# a yes or no whose condition rules out the case the question asks ("Yes, while it has not
# shipped" for "can u even cancel once its shipped?") loses this much: it answers the other case
OTHER_CASE = 0.2
# set back: a step of the numbered list the answer just before showed whole ("one of the poles is
# missing from the box" after the set-up steps is not answered with "Assemble the two poles ...")
SHOWN_STEP = 0.15
# the case a question asks about: "after it ships", "once its shipped", "now that it's delivered"
# ("when" only within the question: "when does the sale end" asks when)
CONDITION = re.compile(
    r"\b(?:after|once|(?<=\w )when|if|since|now that)\s+((?:[\w']+\s+){0,3}[\w']+)", re.IGNORECASE
)
NOT_THEN = re.compile(r"\b(?:not|never|no longer|before|until)\s+((?:\w+\s+){0,2}\w+)", re.IGNORECASE)
NAME = re.compile(r"[A-Za-z][\w'-]*")


def heading_names(passage: str, own_names: Iterable[str] = ()) -> set[str]:
    """The names in a passage's own heading (its heading path's last part), lower case: its
    capitalised words but a sentence's first, "I", the brand's own names (`own_names`: what
    "you" means) and examples in brackets ("How long does delivery to Canada take?" ->
    canada; "Ridge 4-Person Tent" -> person, tent; "Cast iron (Saltmarsh skillet)" ->
    none)."""
    heading, _, body = passage.partition("\n\n")
    return _names_in(heading.rsplit(">", 1)[-1], own_names) if body else set()


def _names_in(heading: str, own_names: Iterable[str]) -> set[str]:
    topic = re.sub(r"\([^)]*\)", " ", heading)
    own = {w.lower() for name in own_names for w in NAME.findall(name)}
    names = set()
    for part in re.split(r"[.?!:;]\s", topic):
        words = NAME.findall(part)
        names |= {w.lower() for w in words[1:] if w[0].isupper() and w != "I"}
    return names - own


def _unasked(passage: str, question: str, own_names: Iterable[str]) -> bool:
    """Whether the question asks the passage's heading without the case it names: "how long
    does delivery take" of "How long does delivery to Canada take?". A question that says
    more than the heading's other words ("shipping to toronto, how long?", "do you ship
    to canada" of "Do you ship to the UK or Europe?") names a case of its own, which the
    passage may well cover."""
    names = {_stem(n) for n in heading_names(passage, own_names)}
    if not names:
        return False
    asked = content_words(question)
    return not names & asked and asked <= content_words(passage.partition("\n\n")[0].rsplit(">", 1)[-1])


def _cases_asked(question: str, headings: Sequence[str], own_names: Iterable[str]) -> list[bool]:
    """Per passage, whether its own heading tells the case the question asks about ("after it
    ships"): a statement, not a question nor a name ("The order has already shipped", "My
    order has already shipped"), with a word of the question's case that no other passage's
    heading says ("how to update the shipping address" asks no case), said as the question
    says it: "if they don't fit" is the case of "It doesn't fit", "if it hasn't shipped yet"
    not the case of "My order has already shipped"."""
    conditions = [
        (content_words(match.group(1)) - ASKING, NEGATION.search(match.group(0)) is not None)
        for match in CONDITION.finditer(question)
    ]
    words = [content_words(h) for h in headings]
    cases = []
    for index, heading in enumerate(headings):
        others = set().union(*(w for i, w in enumerate(words) if i != index))
        told = bool(heading) and not heading.endswith("?") and not _names_in(heading, own_names)
        negated = NEGATION.search(heading) is not None
        cases.append(
            told and any((asked & words[index]) - others and said == negated for asked, said in conditions)
        )
    return cases


FAQ = re.compile(r"Q:\s*(.+?)\nA:\s*(.+)", re.DOTALL)


def _section(passage: str) -> tuple[str, str, bool]:
    """A passage's heading (its path, or an FAQ entry's question), its body (the answer) and
    whether it is an FAQ entry."""
    heading, _, body = passage.partition("\n\n")
    if not body:
        heading, body = "", passage
    faq = FAQ.match(body)
    return (faq.group(1), faq.group(2), True) if faq else (heading, body, False)


def _opening(passage: str) -> str:
    """The first sentence of a passage's answer."""
    first = sentences(_section(passage)[1])[:1]
    return first[0] if first else ""


def _rules_out(sentence: str, asked: set[str]) -> bool:
    """Whether a section's opening yes or no sets a condition against a word of the question:
    "Yes, while it has not shipped" against "shipped" (the section answers the other case)."""
    return bool(POLARITY.match(sentence)) and any(
        content_words(match.group(1)) & asked for match in NOT_THEN.finditer(sentence)
    )


def _normal(sentence: str) -> str:
    return " ".join(sentence.lower().split())


def extractive_answer(
    question: str,
    passages: Sequence[str],
    max_sentences: int = 2,
    min_overlap: float = 0.2,
    scorer: Scorer | None = None,
    min_similarity: float = 0.45,
    same_question: float = SAME_QUESTION,
    close_question: float = CLOSE_QUESTION,
    said: Iterable[str] = (),
    product_names: Iterable[str] = (),
    own_names: Iterable[str] = (),
    about: Iterable[str] = (),
) -> list[tuple[int, str]]:
    """The passage sentences that best answer `question`, as (passage index, sentence), best
    first; empty when none is close enough to it.

    Candidates are each sentence (read with its heading) and, for a passage under a
    question heading, an FAQ question or a heading that tells the customer's situation in
    their words ("My item arrived damaged"), the opening of its answer (help pages answer
    right under the question: "We're sorry. Start a return with the reason ...", where the
    best single sentences for "the candle arrived smashed" are the apology and "keep the
    packaging"). They are ranked by `scorer` (sentence-embedding similarity) when
    given, else by the share of the question's content words they contain; better
    retrieved passages win small differences. A candidate qualifies with enough shared
    words or, with a scorer, enough similarity.

    A yes or no answers the question above it, and only that one: an opening that starts
    with one is quoted for another question ("do you ship to canada" under "Do you ship to
    the UK or Europe?") without a bare "Not yet.", and a sentence that starts with one is
    quoted after the heading's question, so that the customer reads what it answers; a
    bare yes or no is never quoted as a sentence on its own. The heading is the same
    question when its similarity to `question` reaches `same_question` (without a scorer:
    when it has every content word of it). An opening that is only a bare yes or no is
    quoted after its heading when the heading's question is `close_question` similar.

    `said`: what the assistant answered just before. Its sentences are left out of a quote
    that has others: a follow-up asks for something more ("and for a kettle?" after the
    tent's warranty gets the kitchen line of the list, not the outdoor line again). A quote
    of them alone stays as it is: it may be the answer again ("can I swap it for cash?"
    after "... cannot be exchanged for cash"). A step of a numbered list `said` showed whole loses
    `SHOWN_STEP` and is not quoted beside another sentence.

    `product_names`: the brand's products. When the question names some, a sentence that
    names (or whose heading names) only other products is not quoted (the Down bag's price
    is not the answer about the Synthetic one).

    A passage whose own heading names a case (a place, a product: :func:`heading_names`;
    `own_names`: the brand's, which never restrict) loses `UNASKED_NAME` when the question
    asks the heading without it: "how long does delivery take" is answered by the delivery
    options, not by "How long does delivery to Canada take?".

    `about`: what the conversation is about beyond the question's words (a product named
    before and its kind: "kitchen"); it only tells the items of a list apart ("warranty on
    that?" after the glass kettle: "Kitchen and home products: 2 years ...").

    A question that sets a case ("can i still change it after it ships?") is answered by the
    section whose statement heading tells it ("The order has already shipped", `ASKED_CASE`),
    quoted from its start, and not by a section whose opening yes or no rules the case out
    ("Yes, while it has not shipped", `OTHER_CASE`), which is not quoted beside it either."""
    asked = content_words(question)
    if not asked:
        return []

    def overlap(text: str) -> float:
        return len(asked & content_words(text)) / len(asked)

    # (passage index, is a section opening, quoted sentences, text to score)
    candidates: list[tuple[int, bool, list[str], str]] = []
    seen: set[str] = set()
    headings = [own_heading(passage) for passage in passages]
    cases = _cases_asked(question, headings, own_names)
    for index, passage in enumerate(passages):
        heading, body, faq = _section(passage)
        topic = heading.rsplit(">", 1)[-1].strip()
        section = [x for x in sentences(body) if _normal(x) not in seen]
        seen.update(_normal(x) for x in section)
        if not section:
            continue
        if cases[index]:  # read as its first sentence is: the heading alone says no more than the case
            candidates.append((index, True, section[:max_sentences], f"{topic}: {section[0]}"))
        elif faq or topic.endswith("?") or SITUATION.search(topic):
            candidates.append((index, True, section[:max_sentences], topic))
        if not faq:
            candidates += [
                (index, False, [x], f"{topic}: {x}" if topic else x) for x in section if not _bare(x)
            ]
    products = {n.lower() for n in product_names}
    meant = {n for n in products if n in question.lower()}
    if meant:  # a sentence (or its heading) about other products only says nothing about these

        def other(candidate: tuple[int, bool, list[str], str]) -> bool:
            text = " ".join([candidate[3], *candidate[2]]).lower()
            named = {n for n in products if n in text}
            return bool(named) and not named & meant

        candidates = [c for c in candidates if not other(c)] or candidates
    if not candidates:
        return []
    lexical = [overlap(text) for *_, text in candidates]
    set_back = [_unasked(passage, question, own_names) for passage in passages]
    rare = _rare_share(
        content_words(READ_WITH.sub("", question)) or asked,
        [" ".join([text, *quoted]) for _, _, quoted, text in candidates],
    )
    semantic = scorer(question, [text for *_, text in candidates]) if scorer else None
    # a question that says not ("if it hasn't shipped yet") asks the case the opening allows
    negated = NEGATION.search(question) is not None or NOT_THEN.search(question) is not None
    other_case = [not negated and _rules_out(_opening(passage), asked) for passage in passages]
    told = {_normal(x) for text in said for x in sentences(text)}
    # the steps of a list the customer was just shown: one of them again is not what they ask next
    shown = [_step_texts(p) & told if told else set() for p in passages]
    scored = []
    for number, (index, opening, quoted, _) in enumerate(candidates):
        words = lexical[number]
        similar = semantic[number] if semantic is not None else None
        if words < min_overlap and (similar is None or similar < min_similarity):
            continue
        # the question's own words settle what the embedding leaves close ("How soon does my
        # order ship?" is as near "how long does delivery take" as the delivery times are),
        # a word few candidates say counting more (:func:`_rare_share`)
        primary = similar + SAME_WORDS * rare[number] if similar is not None else words
        same = similar >= same_question if similar is not None else words >= 1.0
        close = similar is not None and similar >= close_question
        another = 0.0
        if not opening and not same and POLARITY.match(quoted[0]) and headings[index].endswith("?"):
            # "No, you can check out as a guest." answers "Do I need an account to order?": said so
            quoted = [f"{headings[index]} {quoted[0]}"]
            another = 0.0 if close else ANOTHER_QUESTION
        if opening and not same and POLARITY.match(quoted[0]):
            heading = candidates[number][3]
            bare = quoted[0]
            quoted = _for_another_question(quoted, heading)
            another = 0.0 if close else ANOTHER_QUESTION
            if not quoted and close:
                quoted = [f"{heading} {bare}"]  # "Can I pay in instalments? Not at the moment."
            if not quoted:
                continue
        unasked = UNASKED_NAME if set_back[index] else 0.0
        case = (ASKED_CASE if cases[index] else 0.0) - (OTHER_CASE if other_case[index] else 0.0)
        again = SHOWN_STEP if not opening and _normal(quoted[0]) in shown[index] else 0.0
        scored.append((primary - 0.05 * index - unasked - another + case - again, index, opening, quoted))
    if not scored:
        return []
    scored = [
        (score, index, opening, [x for x in quoted if _normal(x) not in told] or quoted)
        for score, index, opening, quoted in scored
    ]
    scored.sort(key=lambda c: (-c[0], c[1], not c[2]))
    best_score, index, opening, quoted = scored[0]
    about_words = {w for text in about for w in content_words(text)}
    if opening:
        kept = _items_named(quoted, asked, about_words)
        return [
            (index, _asked(passages[index], x, asked)) for x, keep in zip(quoted, kept, strict=True) if keep
        ]
    # a section about the other case is not quoted beside the answer: it would read as a contradiction
    chosen = [
        c
        for c in scored
        if not c[2]
        and c[0] >= best_score - 0.1
        and (c is scored[0] or not (other_case[c[1]] or _normal(c[3][0]) in shown[c[1]]))
    ][:max_sentences]
    fuller = _saying_more(quoted[0], [c for c in scored if not c[2]])
    if fuller is not None:
        chosen = [fuller, *(c for c in chosen if c is not fuller and c is not scored[0])][:max_sentences]
    kept = _items_named([c[3][0] for c in chosen], asked, about_words)
    chosen = [c for c, keep in zip(chosen, kept, strict=True) if keep]
    quote = [(i, _asked(passages[i], q[0], asked)) for _, i, _, q in chosen]
    quote = _with_instead(quote, passages)
    return _all_steps(quote, passages) if PROCEDURE.search(question) else quote


# a sentence that only forbids ("Never soak or put in the dishwasher."): it says no, not what to do
PROHIBITION = re.compile(r"^\W*(?:never|do not|don't|avoid)\b", re.IGNORECASE)


def _with_instead(quote: list[tuple[int, str]], passages: Sequence[str]) -> list[tuple[int, str]]:
    """`quote`, a lone sentence that only forbids preceded by the sentence before it in its
    paragraph, which says what to do instead ("can the skillet go in the dishwasher?": "Wash by
    hand with hot water and a brush, ... Never soak or put in the dishwasher.")."""
    if len(quote) != 1 or not PROHIBITION.match(quote[0][1]):
        return quote
    index, sentence = quote[0]
    body = passages[index].partition("\n\n")[2] or passages[index]
    for paragraph in re.split(r"\n\s*\n", body):
        said = sentences(paragraph)
        if sentence in said[1:] and not _bare(said[said.index(sentence) - 1]):
            return [(index, said[said.index(sentence) - 1]), *quote]
    return quote


def _all_steps(quote: list[tuple[int, str]], passages: Sequence[str]) -> list[tuple[int, str]]:
    """`quote` with a step of a numbered list (:func:`_steps`) replaced by the whole list,
    in order: one step of five is no answer to "how do i set up the tent"."""
    out: list[tuple[int, str]] = []
    for index, sentence in quote:
        steps = _steps(passages[index])
        if _normal(sentence) in _step_texts(passages[index]):
            out += [(index, step) for step in steps if (index, step) not in out]
        else:
            out.append((index, sentence))
    return out


# a question that asks how to do something ("how do i pitch the ridge tent", "steps to set up")
PROCEDURE = re.compile(
    r"\b(?:how (?:do|can|should|would|to) (?:i|we|you)?|how to|steps?|instructions?)\b", re.IGNORECASE
)
STEP = re.compile(r"^\s*(\d{1,2})[.)]\s+(\S.*?)\s*$", re.MULTILINE)
MIN_STEPS = 3


def _step_texts(passage: str) -> set[str]:
    """The passage's numbered steps without their numbers, as :func:`_normal` writes them."""
    return {_normal(step.split(" ", 1)[1]) for step in _steps(passage)}


def _steps(passage: str) -> list[str]:
    """The numbered steps of a passage ("1. Lay the footprint ..."), in order, each with its
    number; empty when it has fewer than `MIN_STEPS`."""
    found = [f"{number}. {text}" for number, text in STEP.findall(passage.partition("\n\n")[2] or passage)]
    return found if len(found) >= MIN_STEPS else []


def _saying_more(
    sentence: str, candidates: list[tuple[float, int, bool, list[str]]]
) -> tuple[float, int, bool, list[str]] | None:
    """The best of `candidates` (sentences close enough to the question to be quoted) that
    says every word of `sentence` and more, to be quoted instead: "Standard delivery is free
    on orders over $50." of a promotions page is all in the price list's "Standard delivery:
    3 to 5 business days, $4.95, free on orders over $50.", which answers "how much is
    shipping" too; None when none does."""
    words = content_words(sentence)
    for candidate in candidates:
        other = content_words(candidate[3][0])
        if words < other:
            return candidate
    return None


# a list item's label: "Express delivery: 1 to 2 ...", "Outdoor gear (tents, packs): 3 years"
LABEL = re.compile(r"^((?:[^:.,;()]|\([^()]*\)){2,80}):\s")


def _items_named(quoted: list[str], asked: set[str], about: set[str] = frozenset()) -> list[bool]:
    """Which quoted items of a list ("Standard delivery: ...", "Express delivery: ...") to
    keep: those the question names by the word that tells them apart, when it names the first
    one's ("how many days does that one take (standard shipping)" is not also told the express
    line). Items the question tells apart by no word (the "cheapest delivery option") are all
    kept. `about`: the words of what the conversation is about (a product's kind), which name
    an item wherever it is in the list ("kitchen": "Kitchen and home products: ...")."""
    labels = [LABEL.match(x) for x in quoted]
    if len(quoted) < 2 or not all(labels):
        return [True] * len(quoted)
    words = [content_words(m.group(1)) for m in labels if m]
    shared = set.intersection(*words)
    own = [w - shared for w in words]
    named = asked if own[0] & asked else about if any(w & about for w in own) else set()
    return [not named or bool(w & named) or not w for w in own]


# what a reading of a reference adds to the message: "how much is it (Summit Down Sleeping Bag:
# warmest sleeping bag)" (knowledge.followup); the customer's own words are before it
READ_WITH = re.compile(r"\s*\([^()]*\)\s*$")
# words that say how a question asks ("how long does it take", "how much"), not what it is
# about: a heading that asks the same way shares them, whatever its subject
ASKING = frozenset(_stem(w) for w in "long much many often soon take takes".split())


def _rare_share(asked: set[str], texts: Sequence[str]) -> list[float]:
    """Per text, the share of the question's content words it has, each word weighted by its
    rarity among the texts (1 / the number that have it): "can you cancel my order if it was
    mispriced" is about the one sentence that says "mispriced", more than about the many that
    say "cancel" and "order". `asked`: the words the customer asked with; those that only
    say how it asks (`ASKING`) weigh nothing."""
    has = [asked & content_words(text) for text in texts]
    about = asked - ASKING or asked
    weight = {
        word: 1.0 / max(1, sum(word in words for words in has)) if word in about else 0.0 for word in asked
    }
    total = sum(weight.values())
    return [sum(weight[word] for word in words) / total for words in has]


# the first words of an answer that leans on its question for its subject ("When your order
# ships.", "On https://brightbay.example, from $10 to $500.", "Five years from purchase.")
LEANS_ON_QUESTION = re.compile(
    r"^(?:when|once|on|from|within|under|by|at|in|after|before|until|via|through|only|every|"
    r"one|two|three|four|five|six|seven|eight|nine|ten|\d)\b",
    re.IGNORECASE,
)


MAX_LEANING_WORDS = 8


def _asked(passage: str, sentence: str, asked: set[str]) -> str:
    """`sentence` preceded by the question it answers, when it opens the answer under a
    question heading and leans on it for its subject ("When is my card charged? When your
    order ships."), unless the customer's question (its content words: `asked`) said as much;
    else as it is."""
    heading, body, _ = _section(passage)
    topic = heading.rsplit(">", 1)[-1].strip()
    first = sentences(body)[:1]
    if not topic.endswith("?") or first != [sentence] or not LEANS_ON_QUESTION.match(sentence):
        return sentence
    if len(sentence.split()) > MAX_LEANING_WORDS:  # "Once we receive the item, the refund ...": a sentence
        return sentence
    if content_words(topic) <= asked:
        return sentence
    return f"{topic} {sentence}"
