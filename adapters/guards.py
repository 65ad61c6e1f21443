"""Checks on generated text before a customer sees it.

- No placeholder left: ``{{Website Name}}`` (the voice data's) or ``{order_number}`` (a
  response template's).
- A rephrasing changes no word of its template into a near spelling of it ("has just become"
  into "has just became"): a rewording uses other words, a slip of grammar or spelling does not
  (knowledge.spelling.slips; a written knowledge answer is held to it too).
- A rephrasing keeps every fact of its template: each number, price, date, duration,
  percentage, URL, e-mail, order number and slot value must still be there, and nothing
  checkable may be added.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from knowledge.followup import COMPLAINS
from knowledge.verify import NEGATION, YES_WORDS, facts

# a slot placeholder of a response template, as Rasa fills it (actions/nlg.py fills with it)
SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}|\{[A-Za-z_][A-Za-z0-9_]*\}")
CODE = re.compile(r"\b[A-Z]{2,4}-\d{3,}\b")  # order, return and invoice numbers: BB-100001, RT-2041


# the end of a whole sentence: its stop, and a closing quote or bracket after it
SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s|$)")


# a sentence the model ended with a semicolon before the next one ('... choose "Download
# invoice"; Happy shopping!'): a full stop
SEMICOLON_STOP = re.compile(r";\s+(?=[A-Z][a-z])")


def whole_sentences(text: str) -> str:
    """The text without an unfinished last sentence (a reply cut by the token limit ends
    "... Let me know if you"), each sentence ended by a full stop rather than a semicolon
    before the next one; empty when no sentence is finished."""
    text = SEMICOLON_STOP.sub(". ", text.strip())
    ends = [m.end() for m in SENTENCE_END.finditer(text)]
    if ends and ends[-1] == len(text):
        return text
    return text[: ends[-1]].rstrip() if ends else ""


# a yes-word said before the answer: right for "can I ...?", wrong for "the candle arrived
# smashed" ("Certainly! We're sorry. ...") or before a no ("Absolutely! No, ...")
AFFIRMATIVE_OPENER = re.compile(rf"^(?:{YES_WORDS})\b[^.!?]*[.!?]\s*", re.I)
SAYS_NO = re.compile(
    r"^(?:no|not|never|none|nothing|sorry|we're sorry|we are sorry|unfortunately|"
    r"we (?:do not|don't|can't|cannot))\b",
    re.I,
)


# a text that opens with its own greeting, thanks or news takes no yes-word before it
# ("Certainly! Hi, I'm Brightbay's assistant."; an apology is SAYS_NO's)
OWN_OPENING = re.compile(
    r"^(?:hi|hello|thanks|thank you|you're welcome|good news|done|ok|no problem)\b", re.I
)
# the question a quote repeats before its answer (knowledge.verify: a yes or no quoted for
# another question is preceded by its heading): the answer is what follows it
QUESTION_BEFORE = re.compile(r"^[^.!?]*\?\s+")
CHEERFUL_CLOSER = re.compile(r"(?<=[.!?])\s+happy \w+[.!]*$", re.I)  # "Happy shopping!"


def fitting_courtesy(text: str, question: str) -> str:
    """The text without a yes-word before its answer when the customer complains (read as
    the gate reads a complaint: knowledge.followup.COMPLAINS), the answer says no, sorry
    or not, or it opens with its own greeting or thanks, and without a cheerful closer after
    a complaint."""
    complains = bool(COMPLAINS.search(question))
    if complains:
        text = CHEERFUL_CLOSER.sub("", text)
    while (opened := AFFIRMATIVE_OPENER.match(text)) and text[opened.end() :].strip():
        rest = text[opened.end() :]
        answer = QUESTION_BEFORE.sub("", rest, count=1)  # "Can I pay in instalments? Not at the moment."
        first = SENTENCE_END.split(answer, maxsplit=1)[0]  # "A shipped order can no longer be cancelled"
        if not (complains or SAYS_NO.match(answer) or NEGATION.search(first) or OWN_OPENING.match(rest)):
            break
        text = rest
    return text


def placeholders(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


def _keys(text: str) -> set[str]:
    return {f.key for f in facts(text)} | {m.upper() for m in CODE.findall(text)}


def missing_facts(template: str, rephrased: str, values: Iterable[str] = ()) -> list[str]:
    """What the rephrasing lost or added; empty when it kept every fact and no more."""
    problems = []
    kept = _keys(rephrased)
    for key in sorted(_keys(template) - kept):
        problems.append(f"lost {key}")
    for key in sorted(kept - _keys(template)):
        problems.append(f"added {key}")
    lowered = rephrased.lower()
    for value in values:
        value = str(value).strip()
        if value and value.lower() in template.lower() and value.lower() not in lowered:
            problems.append(f"lost {value!r}")
    problems += [f"placeholder {p}" for p in placeholders(rephrased)]
    return problems
