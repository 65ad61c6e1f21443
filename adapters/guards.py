"""Checks on generated text before a customer sees it.

- No placeholder left: ``{{Website Name}}`` (the voice data's) or ``{order_number}`` (a
  response template's).
- A rephrasing keeps every fact of its template: each number, price, date, duration,
  percentage, URL, e-mail, order number and slot value must still be there, and nothing
  checkable may be added.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from knowledge.verify import facts

PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}|\{[A-Za-z_][A-Za-z0-9_]*\}")
CODE = re.compile(r"\b[A-Z]{2,4}-\d{3,}\b")  # order, return and invoice numbers: BB-100001, RT-2041


# the end of a whole sentence: its stop, and a closing quote or bracket after it
SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s|$)")


def whole_sentences(text: str) -> str:
    """The text without an unfinished last sentence (a reply cut by the token limit ends
    "... Let me know if you"); empty when no sentence is finished."""
    text = text.strip()
    ends = [m.end() for m in SENTENCE_END.finditer(text)]
    if ends and ends[-1] == len(text):
        return text
    return text[: ends[-1]].rstrip() if ends else ""


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
