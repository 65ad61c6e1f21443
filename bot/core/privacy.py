"""Personal data in customer text, found and masked before it reaches logs, caches, models
and stored conversations.

Standard library only: the Rasa process (bot/rasa_side/) imports this module too, the one
module of the project it may import (tests/unit/test_layers.py).

What is found, and what replaces it:

- payment card numbers, 13 to 19 digits with spaces or dashes, that pass the Luhn check:
  ``[card]``; security codes after a CVV/CVC/"security code" label: ``[cvv]``;
- phone numbers, 7 to 15 digits, with an optional +country code, brackets, spaces, dots
  or dashes (not dates, not order numbers): ``[phone]``;
- email addresses: ``[email]``;
- street addresses, a house number and a street type ("12 Oak Street", "4 Elm Rd"), with
  the town, state and postcode that follow: ``[address]``.

Cards, security codes and phone numbers no flow needs: the channels mask them before Rasa
reads a message. Emails and addresses a flow may need (the order check, a new delivery
address): they are masked wherever the message is kept after the turn, not in the turn.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable

KINDS = ("card", "cvv", "phone", "email", "address")
NOT_NEEDED = ("card", "cvv", "phone")  # by any flow: masked before Rasa reads the message

_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_CVV = re.compile(r"(?i)\b(cvv2?|cvc2?|csc|security\s+code|card\s+code)(\s*(?:is|:|=|-)?\s*)(\d{3,4})\b")
_PHONE = re.compile(r"(?<![\w+])(\+?\(?\d[\d ().-]{5,20}\d)(?![\w-])")
_DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")
# every repeat is bounded: a long run of letters costs linear time, not quadratic
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,5}\.[A-Za-z]{2,24}"
)
_STREET_TYPES = (
    "street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|court|ct|way|place|pl|"
    "terrace|close|crescent|square|sq|highway|hwy|parkway|pkwy|circle|cir|trail|row|walk"
)
_ADDRESS = re.compile(
    rf"(?i)\b\d{{1,6}}[a-z]?\s{{1,3}}(?:[a-z][\w'.-]{{0,30}}\s{{1,3}}){{1,4}}(?:{_STREET_TYPES})\b\.?"
    r"(?:,?\s*(?:apt|unit|suite|flat)\.?\s*\w+)?"  # an apartment
    r"(?:,\s*[a-z][\w .'-]{1,40}?(?:,?\s+[A-Z]{2})?(?:,?\s+\d{4,6}(?:-\d{4})?)?(?=$|[.;!?\n]|,\s))?"
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _cards(text: str, found: Counter) -> str:
    def replace(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found["card"] += 1
            return "[card]"
        return match.group(0)

    return _CARD.sub(replace, text)


def _cvvs(text: str, found: Counter) -> str:
    def replace(match: re.Match) -> str:
        found["cvv"] += 1
        return f"{match.group(1)}{match.group(2)}[cvv]"

    return _CVV.sub(replace, text)


def _phones(text: str, found: Counter) -> str:
    def replace(match: re.Match) -> str:
        candidate = match.group(1)
        digits = re.sub(r"\D", "", candidate)
        if not 7 <= len(digits) <= 15 or _DATE.match(candidate.strip()):
            return candidate
        if candidate.count("(") != candidate.count(")"):
            return candidate
        found["phone"] += 1
        return "[phone]"

    return _PHONE.sub(replace, text)


_NOT_STREET_NAMES = frozenset("the a an my your this that down up to from on in of by at".split())


def _addresses(text: str, found: Counter) -> str:
    """House number, street name, street type: "100 meters down the road" is no address."""

    def replace(match: re.Match) -> str:
        words = match.group(0).split()[1:-1]
        if any(word.lower().strip(",.") in _NOT_STREET_NAMES for word in words[:4]):
            return match.group(0)
        found["address"] += 1
        return "[address]"

    return _ADDRESS.sub(replace, text)


def _simple(pattern: re.Pattern, kind: str):
    def mask(text: str, found: Counter) -> str:
        text, count = pattern.subn(f"[{kind}]", text)
        found[kind] += count
        return text

    return mask


_MASKERS = {  # in this order: a card is not read as a phone, an address's number not as one
    "card": _cards,
    "cvv": _cvvs,
    "email": _simple(_EMAIL, "email"),
    "address": _addresses,
    "phone": _phones,
}


def mask_counted(text: str, kinds: Iterable[str] = KINDS) -> tuple[str, Counter]:
    """`text` with the personal data of `kinds` replaced, and how many of each were found."""
    found: Counter = Counter()
    wanted = set(kinds)
    for kind, masker in _MASKERS.items():
        if kind in wanted:
            text = masker(text, found)
    return text, +found  # only the kinds found


def mask(text: str, kinds: Iterable[str] = KINDS) -> str:
    """`text` with its personal data of `kinds` (default: all) replaced by ``[kind]``."""
    if not text:
        return text
    if kinds is KINDS:
        return _masked_all(text)
    return mask_counted(text, kinds)[0]


_MASKED: OrderedDict[bytes, str] = OrderedDict()
_MASKED_SIZE = 4096
_MASKED_LOCK = threading.Lock()


def _masked_all(text: str) -> str:
    """mask(text) of every kind, remembered: a conversation is masked again at every save
    (bot/rasa_side/tracker_store.py), so its earlier texts come back turn after turn. The
    memory is keyed by a digest of the text, so it keeps no text with personal data in it."""
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    with _MASKED_LOCK:  # the event broker's thread masks too
        masked = _MASKED.get(key)
        if masked is not None:
            _MASKED.move_to_end(key)
            return masked
    masked = mask_counted(text)[0]
    with _MASKED_LOCK:
        _MASKED[key] = masked
        if len(_MASKED) > _MASKED_SIZE:
            _MASKED.popitem(last=False)
    return masked


def mask_value(value: object, kinds: Iterable[str] = KINDS) -> object:
    """Strings masked inside any JSON-like value (dicts, lists); other values as they are."""
    if isinstance(value, str):
        return mask(value, kinds)
    if isinstance(value, dict):
        return {key: mask_value(item, kinds) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_value(item, kinds) for item in value]
    return value
