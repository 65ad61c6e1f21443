"""Shorthand and misspellings, mended before the gate and the search read a message.

Customers type "do u take amex", "retrun policy", "shiping to canada?". The gate's models
and BM25 were trained on the team's words, so such a message misses. Two repairs, both
reported so that the decision log shows what was read:

1. **Shorthand**: whole tokens replaced from a lexicon: a general one here ("u", "pls",
   "thx", "fri"; "sat" and "sun" only after "on", "by", "till" ...) and the brand's own
   (brand.yml ``shorthand:``, e.g. ``amex: American Express``).
2. **Spelling**: a word that is neither in the brand's vocabulary (its documents and NLU
   examples) nor a known English word (the embedding model's word list) is replaced by the
   brand word closest to it: at most one edit for words of up to 5 letters, two above
   (insert, delete, substitute, swap two neighbours), the most frequent on a tie. A known
   English word is only mended into a brand word that doubles one of its letters
   ("shiping": a name in the word list). The plural of a known or brand word ("pans": the
   word list has "pan") is left alone. Words shorter than 4 letters, numbers and record
   numbers are never touched.

A word the brand uses is never "corrected", and nothing is learnt from customers' messages.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# general chat shorthand; a brand adds its own (brand.yml `shorthand:`)
SHORTHAND: dict[str, str] = {
    "u": "you",
    "ur": "your",
    "r": "are",
    "y": "why",
    "pls": "please",
    "plz": "please",
    "pl": "please",
    "thx": "thanks",
    "ty": "thank you",
    "wat": "what",
    "wot": "what",
    "hw": "how",
    "whats": "what is",
    "wats": "what is",
    "b4": "before",
    "cuz": "because",
    "coz": "because",
    "bc": "because",
    "im": "I'm",
    "thats": "that's",
    "wheres": "where's",
    "hows": "how's",
    "theres": "there's",
    "youre": "you're",
    "whos": "who's",
    "dont": "don't",
    "cant": "can't",
    "wont": "won't",
    "doesnt": "doesn't",
    "didnt": "didn't",
    "isnt": "isn't",
    "ive": "I've",
    "rn": "right now",
    "asap": "as soon as possible",
    "msg": "message",
    "info": "information",
    "acct": "account",
    "addr": "address",
    "pkg": "package",
    "qty": "quantity",
    "w/": "with",
    "w/o": "without",
    "abt": "about",
    "bout": "about",
    "smth": "something",
    "sth": "something",
    "pwd": "password",
    "2day": "today",
    "2morrow": "tomorrow",
    "tmrw": "tomorrow",
    "yr": "year",
    "yrs": "years",
    "wk": "week",
    "wks": "weeks",
    "hr": "hour",
    "hrs": "hours",
    "n": "and",
    "mon": "Monday",
    "tue": "Tuesday",
    "tues": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "thur": "Thursday",
    "thurs": "Thursday",
    "fri": "Friday",
}
# shorthand that is also a word: read so only after a word that a day follows ("open on sat",
# not "the bag sat in the rain")
BEFORE_A_DAY = frozenset({"on", "this", "next", "last", "every", "by", "till", "until", "from", "to", "and"})
DAYS: dict[str, str] = {"sat": "Saturday", "sun": "Sunday"}
TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'/-]*")
LETTERS = re.compile(r"[a-z]+(?:'[a-z]+)?")
MIN_LENGTH = 4  # shorter words are left alone: too many real words are one edit apart


@dataclass
class Mended:
    text: str
    changes: list[tuple[str, str]] = field(default_factory=list)  # (as typed, as read)


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Optimal string alignment distance (a swap of neighbours is one edit); `limit + 1`
    as soon as it exceeds `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = ca != cb
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _deletes(word: str, depth: int) -> set[str]:
    found, frontier = {word}, {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def _singulars(word: str) -> list[str]:
    """What `word` is the plural (or -s form) of, if it is one: "pans" -> pan, "boxes" ->
    box, "batteries" -> battery."""
    if not word.endswith("s") or word.endswith("ss"):
        return []
    found = [word[:-1]]
    if word.endswith("es"):
        found.append(word[:-2])
    if word.endswith("ies"):
        found.append(word[:-3] + "y")
    return [w for w in found if len(w) >= MIN_LENGTH - 1]


def words_of(texts: Iterable[str]) -> Counter[str]:
    """How often each lower-case word occurs in these texts."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(LETTERS.findall(text.lower()))
    return counts


def known_english(vocab_file: Path | None) -> frozenset[str]:
    """Whole words of a WordPiece vocabulary (the embedding model's vocab.txt): words the
    speller must not change. Empty without the file."""
    if vocab_file is None or not vocab_file.is_file():
        return frozenset()
    lines = vocab_file.read_text(encoding="utf-8").splitlines()
    return frozenset(w for w in lines if w.isalpha() and w.islower())


class Speller:
    def __init__(
        self,
        vocabulary: Mapping[str, int],
        known: Iterable[str] = (),
        shorthand: Mapping[str, str] | None = None,
    ) -> None:
        self.vocabulary = {w: n for w, n in vocabulary.items() if len(w) >= MIN_LENGTH - 1}
        self.known = frozenset(known)
        self.shorthand = {k.lower(): v for k, v in {**SHORTHAND, **(shorthand or {})}.items()}
        self._index: dict[str, list[str]] = {}
        for word in self.vocabulary:
            for key in _deletes(word, 2):
                self._index.setdefault(key, []).append(word)

    def correct(self, word: str) -> str | None:
        """The brand word meant by `word` (lower case), or None to keep it."""
        if len(word) < MIN_LENGTH or not word.isalpha() or word in self.vocabulary:
            return None
        if any(stem in self.known or stem in self.vocabulary for stem in _singulars(word)):
            return None  # "pans", "soles": a plural the word list leaves out, not a typo of "pass"
        if word in self.known:  # a real word; but "shiping" (a name) for the brand's "shipping"
            doubled = (word[: i + 1] + word[i:] for i in range(len(word)))
            return next((w for w in doubled if self.vocabulary.get(w, 0) >= 2), None)
        limit = 1 if len(word) <= 5 else 2
        candidates = {c for key in _deletes(word, limit) for c in self._index.get(key, ())}
        best: tuple[int, int, str] | None = None
        for candidate in candidates:
            distance = edit_distance(word, candidate, limit)
            if distance > limit:
                continue
            rank = (distance, -self.vocabulary[candidate], candidate)
            if best is None or rank < best:
                best = rank
        return best[2] if best else None

    def mend(self, text: str) -> Mended:
        changes: list[tuple[str, str]] = []

        def replace(match: re.Match[str]) -> str:
            typed = match.group(0)
            lower = typed.lower()
            before = re.findall(r"[a-z]+", text[: match.start()].lower())[-1:]
            if lower in self.shorthand:
                read = self.shorthand[lower]
            elif lower in DAYS and before and before[0] in BEFORE_A_DAY:
                read = DAYS[lower]
            else:
                read = self.correct(lower) or typed
                if read != typed and typed[:1].isupper():
                    read = read[:1].upper() + read[1:]
            if read != typed:
                changes.append((typed, read))
            return read

        mended = TOKEN.sub(replace, text)
        return Mended(mended, changes)


SLIP_WORD = re.compile(r"[\w'{}-]+")


def slips(template: str, rephrased: str) -> list[str]:
    """Words of the template that the rephrasing writes as a near spelling of themselves
    (one or two letters changed: "become" as "became", "an" as "a", "percale" as
    "perlocale"): "slipped X to Y" each. A rewording uses other words; a slip of grammar or
    spelling does not (a voice model's rephrased response, or its written answer)."""
    ours, theirs = SLIP_WORD.findall(template.lower()), SLIP_WORD.findall(rephrased.lower())
    found = []
    matcher = difflib.SequenceMatcher(a=ours, b=theirs, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "replace" or i2 - i1 != j2 - j1:
            continue
        for a, b in zip(ours[i1:i2], theirs[j1:j2], strict=True):
            if a != b and edit_distance(a, b, 2) <= 2 and not (a.isdigit() or b.isdigit()):
                found.append(f"slipped {a!r} to {b!r}")
    return found
