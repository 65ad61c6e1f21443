"""Follow-ups made standalone: "and for a kettle?" after "how long is the warranty on a tent?"
becomes "how long is the warranty on a kettle?" before the gate and the search read it.

A customer's message is read against the conversation (:class:`Context`): the questions
resolved before it (newest first) and whether a form is asking for something. Four kinds:

- ``ellipsis``: a fragment that swaps one thing of the previous question ("and for a
  kettle?", "what about apparel?", "and standard?", "kettle?"), or a correction of it ("no,
  I meant express"). The phrases of the previous
  question closest in meaning to the fragment (the embedding model; without it, the
  question's last words) are candidates to be replaced by it, and the knowledge base picks
  the reading it answers best.
- ``reference``: a short question that points back ("what if I dropped it?", "does that
  apply to sale items too?", "and if it's been 40 days?"): the previous question's content
  words are added, in brackets, after the product the answer named or else the title of the
  document it cited, so that search and gate know the topic.
- ``record``: a bare record number given after a question ("it's order BB-100031" after "my
  lamp arrived broken, what do I do?"): the question and the number are read together.
- ``as_is``: anything else, and everything while a form waits for an answer (a short
  message there is the answer: an order number, an e-mail, "yes").

Nothing here knows a brand or Rasa; actions/ builds the context from the tracker.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from bot.core.brand import NOT_KINDS, singular
from knowledge.sparse import STOPWORDS

# (text, candidates) -> cosine similarity of each candidate to the text
Similarity = Callable[[str, list[str]], list[float]]
# questions -> how closely the knowledge base answers each (its best passage's similarity)
Plausibility = Callable[[list[str]], list[float]]

# words a message opens with before what it asks ("ok and for a kettle?", "so does that apply to
# ..."): passed over, whatever the rule
OPENERS = r"(?:(?:ok(?:ay)?|and|but|also|so|hmm+)\W+)*"
# a message that says it goes on from the one before ("and do i get anything for signing up?"):
# its reading keeps a close call against the message alone (actions/knowledge_answer.py)
CONTINUES = re.compile(r"^\W*(?:and|also|so)\b", re.IGNORECASE)
ELLIPSIS = re.compile(
    r"^\W*"
    + OPENERS
    + r"(?:what about|how about|what of|same (?:for|with)|and for|and on|and with|and in|and the|and|for|on|with)\s+"
    r"(?P<thing>.+?)[\s?.!]*$",
    re.IGNORECASE,
)
# a fragment has no verb of its own: these words make it a question or a sentence
VERBISH = re.compile(
    r"\b(is|are|was|were|be|been|do|does|did|can|could|will|would|should|have|has|had|get|got|"
    r"want|need|make|take|pay|send|return|cancel|change|track|buy|order(?:ed)?|i|you|we|it|if)\b",
    re.IGNORECASE,
)
POINTS_BACK = re.compile(
    r"\b(it|its|it's|that|this|these|those|they|them|one|ones|same)\b|(?<!is )(?<!are )\bthere\b"
    r"|^\W*(and|but|so|what if|and if|even if|then|till|until|since)\b"
    # a verb left out for the one asked before: "what happens to my orders if i do" after "how
    # do i close my account", "can i still get a refund if so"
    r"|\b(?:if|when|once|after) (?:i|we) (?:do|did)\W*$|\bif so\b",
    re.IGNORECASE,
)
# "does that apply to sale items too?": the question before, asked of another case
APPLIES = re.compile(
    r"^\W*" + OPENERS + r"(?:does|do|would|will|is|are)\s+(?:that|this|it|the same)\s+"
    r"(?:also\s+)?(?:apply|applies|go|count|hold|work|true|valid)\s+(?:to|for|with|on)\s+"
    r"(?P<thing>.+?)(?:\s+(?:too|as well|also))?[\s?.!]*$",
    re.IGNORECASE,
)
# a pronoun for what was said: a fragment with one ("warranty on that?") refers, it swaps nothing
# ("the glass one" does swap: it names the one meant)
POINTS_AT = re.compile(r"\b(it|its|it's|that|this|these|those|they|them)\b", re.IGNORECASE)
# "no, I meant express", "I was asking about the return window": the thing swaps like a fragment
CORRECTION = re.compile(
    r"^\W*(?:(?:no|nope|nah|sorry|oh)\W+)*(?:i meant|i mean|i was asking about|i'm asking about|"
    r"i am asking about|i asked about|what i meant was)\s+(?P<thing>.+?)[\s?.!]*$",
    re.IGNORECASE,
)
# the answer before missed: its document is no guide to what the customer meant
REJECTS = re.compile(
    r"\b(?:not what i (?:asked|meant|wanted|said)|(?:that's|thats|that is) not (?:it|right|what)|"
    r"wrong answer|you misunderstood|(?:didn't|didnt|did not) ask)\b",
    re.IGNORECASE,
)
# an unhappy customer: something broke, went missing, came late or wrong, or nobody helped
# (the gate, bot/gate/evidence.py, and a written answer's courtesy, adapters/guards.py)
COMPLAINS = re.compile(
    r"\b(?:broken|broke|snapped|cracked|smashed|shattered|damaged|dented|torn|ripped|faulty|"
    r"defective|defects?|(?:falling|fell|coming|came) apart|leak(?:s|ing|ed)?|soaked|ruined|empty|"
    r"missing|stolen|lost|late|wrong|worst|"
    r"terrible|awful|horrible|ridiculous|unacceptable|disappointed|disappointing|angry|furious|"
    r"complain|complaint|scam|rip ?off|never (?:arrived|came|received|got)|"
    r"(?:didn't|didnt|did not|hasn't|hasnt|has not|haven't|havent) (?:arrive|arrived|come|came|get|got)|"
    r"(?:nobody|no one|noone) (?:answered|replied|responded|called|helped)|still waiting|been waiting)\b",
    re.IGNORECASE,
)
DETERMINER = re.compile(r"^(?:a|an|the|my|your|our|some|any)\s+", re.IGNORECASE)
WORD = re.compile(r"[A-Za-z0-9$£€][\w$£€.'-]*")
REPLIES = frozenset(
    "yes yeah yep no nope ok okay thanks thank cheers hi hello hey bye great cool sure fine "
    "please stop cancel help".split()
)
QUESTION_WORDS = frozenset("long much many often far soon old big what's how's where's when's".split())
NOT_TOPIC = QUESTION_WORDS | {"ok", "okay", "hmm"}  # the words of a question a reference leaves out
RECORD_FILLER = frozenset(
    "it it's its is was order number no nr my the here ok okay sure yes yeah thats that's bb".split()
)
# a question ("what's the max wattage i can put in"), not a reply or a statement
ASKS = re.compile(
    r"\?\s*$|^\W*(?:(?:ok(?:ay)?|and|but|so)\W+)?(?:how|what|whats|what's|when|where|which|who|why|"
    r"is|are|does|do|can|could|will|would|should|any)\b",
    re.IGNORECASE,
)
MAX_FRAGMENT_WORDS = 5
MAX_REFERENCE_WORDS = 14
MIN_SWAP_SIMILARITY = 0.2  # a fragment this unlike every phrase of the question swaps nothing
CLEARLY_LIKELIER = 0.03  # the knowledge base overrules the likeliest swap by this much closeness


@dataclass
class Context:
    previous: list[str] = field(default_factory=list)  # earlier resolved questions, newest first
    form_waiting: bool = False  # a form asks the customer for a value now
    said: list[str] = field(default_factory=list)  # the newest answer among them, from the documents
    names: list[str] = field(default_factory=list)  # the brand's product names (a reference may mean one)
    cited: str = ""  # the title of the document the newest answer among them cites ("Delivery to Canada")


@dataclass
class Resolved:
    text: str  # the standalone question the gate and the search read
    kind: str  # as_is | ellipsis | reference | record
    previous: str | None = None  # the question it was resolved against
    said: list[str] = field(default_factory=list)  # the assistant's answer just before, if any
    cited: str = ""  # the title of the document that answer cited, if any
    within: str = ""  # the document (its title) a reference points back to: answered from it first

    def to_dict(self) -> dict[str, str | None]:
        return {"text": self.text, "kind": self.kind, "previous": self.previous}

    def as_typed(self, text: str, keep_said: bool = True) -> Resolved:
        """`text` read as it is, in the same conversation (the answer before and its document)."""
        return Resolved(text, "as_is", said=self.said if keep_said else [], cited=self.cited)


def content_words(text: str) -> list[str]:
    return [w for w in WORD.findall(text) if w.lower() not in STOPWORDS]


def _bare_record(message: str) -> bool:
    """The message is a record number and filler ("it's order BB-100031", "#100031 ok")."""
    rest = [w for w in re.findall(r"[a-z']+", message.lower()) if w not in RECORD_FILLER]
    return len(message.split()) <= 6 and not rest


def _fragment(message: str, names_record: bool) -> str | None:
    """The thing a fragment asks about ("a kettle" of "and for a kettle?"), or None."""
    if names_record:
        return None
    correction = CORRECTION.match(message)
    match = correction or ELLIPSIS.match(message)
    if match:
        thing = match.group("thing")
    elif len(message.split()) <= 3 and not VERBISH.search(message) and message.strip().endswith("?"):
        thing = message.strip().rstrip("?.! ")
    else:
        return None
    words = thing.split()
    if not words or len(words) > MAX_FRAGMENT_WORDS:
        return None
    if VERBISH.search(thing) and not correction:  # "I meant the return window": a thing, said so
        return None
    if POINTS_AT.search(thing):  # "warranty on that?": asks about what was said, swaps nothing
        return None
    if all(w.lower().strip(",.!?") in REPLIES for w in words):
        return None
    return thing


def _phrases(question: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of every run of 1 to 3 content words of the question, with the
    determiner in front of it when there is one (so "a tent" is swapped whole)."""
    tokens = [(m.start(), m.end(), m.group(0)) for m in WORD.finditer(question)]
    spans = []
    for i, (start, _, word) in enumerate(tokens):
        if word.lower() in STOPWORDS:
            continue
        for j in range(i, min(i + 3, len(tokens))):
            if tokens[j][2].lower() in STOPWORDS:
                break
            end = tokens[j][1]
            spans.append((start, end, question[start:end]))
    return spans


def swaps(previous: str, thing: str, similarity: Similarity | None, limit: int = 3) -> list[str]:
    """Readings of the previous question with one phrase replaced by `thing`, likeliest
    first: the phrases most like the fragment in meaning (the embedding model), else the
    last ones (the thing asked about comes last: "warranty on a tent"). Question words
    ("how long", "how much") are never swapped."""
    bare = DETERMINER.sub("", thing).strip()
    base = previous.rstrip(" ?.!")
    spans = [s for s in _phrases(base) if not set(s[2].lower().split()) <= QUESTION_WORDS]
    if not spans:
        return [f"{base} {thing}?"]
    if similarity is not None:
        alike = similarity(bare, [text for *_, text in spans])
        order = sorted(range(len(spans)), key=lambda i: -alike[i])
        order = [i for i in order if alike[i] >= MIN_SWAP_SIMILARITY] or order[:1]
    else:
        order = sorted(range(len(spans)), key=lambda i: (len(spans[i][2].split()), -spans[i][0]))
    return [f"{base[: spans[i][0]]}{bare}{_after_examples(base[spans[i][1] :])}?" for i in order[:limit]]


# examples given of the thing a fragment replaces ("kitchen stuff like pans"): they go with it
EXAMPLES = re.compile(r"^\s*,?\s*(?:like|such as|e\.g\.|for example|for instance|say)\s+[^,;?!]*,?", re.I)


def _after_examples(rest: str) -> str:
    """What follows a replaced phrase, without the examples given of it: "warranty on kitchen
    stuff like pans", read for apparel, is "warranty on apparel", not "apparel like pans"."""
    return EXAMPLES.sub("", rest, count=1)


def _likeliest(readings: list[str], plausibility: Plausibility) -> str:
    """The reading the knowledge base answers best, when it answers it clearly better than
    the first (the phrase most like the fragment); else the first: two readings of one
    passage ("warranty on apparel", "warranty on kitchen apparel") score alike."""
    scores = plausibility(readings)
    best = max(range(len(readings)), key=lambda i: (scores[i], -i))
    return readings[best] if scores[best] - scores[0] >= CLEARLY_LIKELIER else readings[0]


def resolve(
    message: str,
    context: Context,
    names_record: bool = False,
    similarity: Similarity | None = None,
    plausibility: Plausibility | None = None,
) -> Resolved:
    """The standalone question of `message` in this conversation. `names_record`: the message
    names a record (an order number); `similarity`: the embedding model's, to find the phrase
    a fragment replaces; `plausibility`: how well the knowledge base answers each reading
    (its best passage's similarity), to choose between them ("how much is standard
    shipping", not "how much is express standard")."""
    resolved = _resolve(message, context, names_record, similarity, plausibility)
    resolved.said = list(context.said)
    resolved.cited = context.cited
    return resolved


def _resolve(
    message: str,
    context: Context,
    names_record: bool,
    similarity: Similarity | None,
    plausibility: Plausibility | None,
) -> Resolved:
    text = message.strip()
    if not context.previous or context.form_waiting or not text:
        return Resolved(text, "as_is")
    previous = context.previous[0]
    words = text.split()
    if names_record and _bare_record(text):
        return Resolved(f"{previous.rstrip()} {text}", "record", previous)
    applies = APPLIES.match(text)
    if applies and not names_record:
        asked = re.sub(r"[\s?.!]+$", "", previous)
        return Resolved(f"{asked} for {applies.group('thing')}?", "ellipsis", previous)
    thing = _fragment(text, names_record)
    if thing is not None:
        meant = referent(thing, [previous], context.names)
        swapped = _swap_product(previous, meant, context.names)
        readings = [swapped] if swapped else swaps(previous, thing, similarity)
        best = (
            readings[0] if plausibility is None or len(readings) == 1 else _likeliest(readings, plausibility)
        )
        return Resolved(best, "ellipsis", previous)
    if len(words) <= MAX_REFERENCE_WORDS and POINTS_BACK.search(text) and not names_record:
        topic = " ".join(w for w in content_words(previous) if w.lower() not in NOT_TOPIC)
        if topic and not set(map(str.lower, content_words(previous))) <= set(map(str.lower, words)):
            meant = referent(text, [*context.said, previous], context.names)
            if meant:
                rest = _only(previous, meant, context.names)
                topic = " ".join(w for w in content_words(rest) if w.lower() not in NOT_TOPIC)
                topic = f"{' '.join(meant)}: {topic}"
            elif context.cited and not REJECTS.search(text) and not _stems(context.cited) <= _stems(topic):
                # "from there": the page about Canada, where the answer is looked for first
                topic = f"{context.cited}: {topic}"
                return Resolved(f"{text} ({topic})", "reference", previous, within=context.cited)
            return Resolved(f"{text} ({topic})", "reference", previous)
    if len(words) <= MAX_REFERENCE_WORDS and not names_record and ASKS.search(text):
        meant = _implied(text, context)
        if meant:  # "whats the max wattage i can put in" after an answer about the Beacon lamps
            return Resolved(f"{text} ({' '.join(meant)})", "reference", previous)
    return Resolved(text, "as_is")


def _implied(message: str, context: Context) -> list[str]:
    """The products a short question that names none is about: those the answer just before
    (or the previous question) named, when it names no product of its own; else none. Like
    every reference, the gate keeps the message alone when a passage answers it closely
    (actions/knowledge_answer.build_answer)."""
    pattern = _product_words(tuple(context.names))
    if pattern is None or pattern.search(message):
        return []
    return referent(message, [*context.said, context.previous[0]], context.names)


def _swap_product(previous: str, meant: list[str], names: list[str]) -> str | None:
    """The previous question about the one `meant` product instead of another of its family
    ("and the 4 person?" after the Ridge 2-Person Tent's weight), or None."""
    if len(meant) != 1 or _only(previous, meant, names) == " ".join(previous.split()):
        return None
    return _only(previous, meant, names, instead=meant[0])


def _only(text: str, meant: list[str], names: list[str], instead: str = "") -> str:
    """`text` with the other products of the `meant` products' families taken out, or said
    as `instead` ("how heavy is the Ridge 2-Person Tent" read for the 4-person one keeps
    only the latter)."""
    families = {_family(n) for n in meant}
    for name in names:
        if name not in meant and _family(name) in families:
            text = re.sub(re.escape(name), instead, text, flags=re.IGNORECASE)
    return " ".join(text.split())


def _family(name: str) -> str:
    return name.split()[0].lower()


def referent(message: str, texts: list[str], names: list[str]) -> list[str]:
    """The products a reference points back to ("how much is it" after an answer naming the
    Summit Down Sleeping Bag; "the floor one" after a question about Beacon lamps): those
    named in `texts` (the answer just before, then the question), with the rest of their
    family (a name's first word, "Beacon"), narrowed to those that share the most words with
    the message ("the glass one" of the Harbor kettles, "the synthetic one" after the Summit
    Down bag), then to those named whole, then to those that share the most words with the
    question before, the last of `texts` ("how much" after both Ridge tents were quoted for
    "which tent sleeps 4"), then with the text that named them ("Harbor kettles": not
    Harbor's socks). Empty when none is named."""
    asked = _stems(message)
    before = _stems(texts[-1]) if len(texts) > 1 else set()  # the question the answer answered
    for text in (t.lower() for t in texts):  # the newest text that names products decides
        whole = [n for n in names if n.lower() in text]
        families = {_family(n) for n in whole} | {
            _family(n) for n in names if re.search(rf"\b{re.escape(_family(n))}\b", text)
        }
        named = [n for n in names if _family(n) in families]
        if not named:
            continue
        said = _stems(text)
        rank = {
            n: (len(asked & _stems(n)), n in whole, len(before & _stems(n)), len(said & _stems(n)))
            for n in named
        }
        best = max(rank.values())
        return [n for n in named if rank[n] == best]
    return []


def _stems(text: str) -> set[str]:
    """The content words of `text`, lower case, a plural's s dropped ("kettles", "Kettle")."""
    words = {w.lower() for w in re.split(r"[^\w]+", text)} - STOPWORDS - {""}
    return {singular(w) for w in words}


@lru_cache(maxsize=8)
def _product_words(names: tuple[str, ...]) -> re.Pattern[str] | None:
    """A run of words of product names (their family, their kind, plurals)."""
    words = {w for n in names for w in _stems(n) if w.isalpha() and len(w) > 2} - NOT_KINDS
    if not words:
        return None
    word = "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")s?"
    return re.compile(rf"\b{word}(?:\s+{word})*\b", re.IGNORECASE)


def without_products(text: str, names: list[str]) -> str:
    """`text` with the products it names said as "item" ("my lamp arrived broken" -> "my item
    arrived broken"): a complaint or a policy question about one product is answered by the
    policy, which names none, while the product's own words pull the search to its catalogue
    entry. Every word of a product name (its family, its kind, plurals) counts; a run of them
    becomes one "item". `text` itself when it names none."""
    pattern = _product_words(tuple(names))
    return text if pattern is None else pattern.sub("item", text)
