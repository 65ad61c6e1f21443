"""Decoding that cannot invent a fact: every number, price, duration, date, URL, e-mail
address, order or return number and product name the model writes must be copied from the
texts it was given (the passages, the template, the slot values).

The check runs on the text as it is being written, token by token (:func:`adapters.decoding.greedy`
asks it about each candidate, best first, and takes the first it permits):

- a *piece* is a run that carries a fact: a number (``$14.95``, ``30``, ``1,200``), a code
  (``BB-100031``), a URL, an e-mail address;
- a piece that is finished (text follows it) must be one of the allowed pieces;
- the piece still being written (it touches the end of the text) must be the beginning of
  one, and when the reply ends it must be whole;
- a product name of the catalogue that none of the given texts names may not be written.

Numbers written as words ("thirty days") are not pieces: the independent verifier
(knowledge.verify) still checks every reply, and catches them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PIECE = re.compile(
    r"https?://[^\s<>()\"']*"  # a URL
    r"|www\.[^\s<>()\"']*"
    r"|[\w.+-]+@[\w-]*(?:\.[\w-]*)*"  # an e-mail address
    r"|\b[A-Z]{2,4}-\d*"  # an order, return or invoice number: BB-100031, RT-2041
    r"|[$€£]?\d[\d.,:/]*%?"  # a number, price, time, date or percentage
)
TRAILING = ".,:;!?/"  # punctuation after a piece ends the sentence, not the piece


def _key(piece: str) -> str:
    """A piece as compared: no trailing punctuation, lower case. A price keeps its currency
    sign: "$1" is not "1 to 2 days"; a bare "14.95" may copy "$14.95"."""
    return piece.rstrip(TRAILING).lower()


def _plain(key: str) -> str:
    return key.lstrip("$€£")


def pieces(text: str) -> list[re.Match]:
    return [m for m in PIECE.finditer(text) if any(c.isdigit() for c in m.group(0)) or _wordy(m.group(0))]


def _wordy(piece: str) -> bool:
    """URLs, e-mails and codes are pieces before their first digit; a bare number needs one."""
    return "@" in piece or piece.lower().startswith(("http", "www.")) or "-" in piece[:5]


def _fact(key: str) -> bool:
    """A finished piece that carries a fact ("UK-based" gives "uk-": a word, not a code)."""
    return any(c.isdigit() for c in key) or "@" in key or key.startswith(("http", "www."))


class FactConstraint:
    """What may be written, given the texts the reply is grounded in."""

    def __init__(self, sources: Iterable[str], product_names: Iterable[str] = ()) -> None:
        sources = [s for s in sources if s]
        keys = {_key(m.group(0)) for s in sources for m in pieces(s)} - {""}
        self.allowed = keys | {_plain(k) for k in keys}  # a bare number may copy a price
        self.prices = {k for k in keys if k[:1] in "$€£"}  # a price only copies a price
        joined = "\n".join(sources).lower()
        self.named, self.unnamed = [], []  # longest first
        for name in sorted(
            {n.strip().lower() for n in product_names if n and n.strip()}, key=len, reverse=True
        ):
            pattern = rf"\b{re.escape(name)}\b"
            (self.named if re.search(pattern, joined) else self.unnamed).append(name)
            joined = re.sub(pattern, " ", joined)  # "Trail Kettle Pro" does not name the "Trail Kettle"

    def _known(self, key: str, beginning: bool) -> bool:
        among = self.prices if key[:1] in "$€£" else self.allowed
        return any(a.startswith(key) for a in among) if beginning else key in among

    def _unnamed_in(self, text: str) -> list[str]:
        if not self.unnamed:
            return []
        lowered = text.lower()
        for name in self.named:  # "Kettle Pro" allowed hides the forbidden "Kettle" inside it
            lowered = lowered.replace(name, " ")
        return [n for n in self.unnamed if re.search(rf"\b{re.escape(n)}\b", lowered)]

    def permits(self, text: str, final: bool = False) -> bool:
        """May the reply read `text` so far (`final`: and end here)?"""
        for m in pieces(text):
            key = _key(m.group(0))
            if m.end() == len(text) and not final:  # still being written
                if key and not self._known(key, beginning=True):
                    return False
            elif _fact(key) and not self._known(key, beginning=False):
                return False
        return not self._unnamed_in(text)

    def invented(self, text: str) -> list[str]:
        """The pieces and names of a finished text that the sources do not have (for tests
        and logs: what an unconstrained reply made up)."""
        made_up = [m.group(0).rstrip(TRAILING) for m in pieces(text) if _fact(_key(m.group(0)))]
        return [p for p in made_up if not self._known(_key(p), beginning=False)] + self._unnamed_in(text)
