"""A brand: the one folder a support team owns, read by everything else.

Every brand-specific fact lives in its folder (``bot/brands/<name>/``, or any folder named
by ``$TANDEM_BRAND``), never in code. Paths below are relative to that folder; `tandem new
NAME` scaffolds one, and bot/brands/README.md says what each file is for:

    brand.yml            who the company is, its order numbers and order back end
    flows.yml            what the assistant does: flows, chit-chat, slot-only intents
    policy.yml           the facts flows decide with and documents quote
    gate.yml             the confidence gate's thresholds and clarify topics
    gate_labelled.jsonl  labelled messages the gate is calibrated on
    answers.yml          scripted answers (templates over brand.yml and policy.yml)
    products.yml         (optional) the catalogue: names the answer verifier knows
    orders.json          (optional) seed of the sample SQLite order store
    config.yml, domain/, data/          Rasa's pipeline, domain and training data
    sources/, qa.jsonl   knowledge documents; questions with the documents that answer them
    voice.yml, voice/, adapter/         the brand voice: settings, examples, trained adapter
    site/                the demo site that embeds the chat widget
    tests/stories/, tests/conversations/   Rasa test stories, end-to-end conversations
    actions.py           (optional) the brand's own custom actions

Files are read on every call (they are small), so an edit applies at once, with nothing
retrained. This module imports nothing else of the project: it is the bottom layer.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

BRANDS_DIR = Path(__file__).resolve().parents[1] / "brands"
DEFAULT_BRAND = "brightbay"


class BrandError(Exception):
    """The brand folder or one of its files is unusable; the message says how to fix it."""


@dataclass(frozen=True)
class Flow:
    intent: str  # the intent that starts it
    action: str  # the action that completes it (the form's submit action)
    form: str | None = None  # None: the action runs at once (a handoff, say)


@dataclass(frozen=True)
class Flows:
    """flows.yml: what the assistant does, read by the gate, the actions and the rules."""

    flows: dict[str, Flow] = field(default_factory=dict)  # intent -> flow
    chitchat: dict[str, str] = field(default_factory=dict)  # intent -> response
    slot_intents: frozenset[str] = frozenset()  # carry a slot value only: never a route

    @property
    def intents(self) -> frozenset[str]:
        """Intents that start a flow."""
        return frozenset(self.flows)

    @property
    def chitchat_intents(self) -> frozenset[str]:
        return frozenset(self.chitchat)

    @property
    def forms(self) -> dict[str, Flow]:
        """The flows that fill a form first, by intent."""
        return {intent: flow for intent, flow in self.flows.items() if flow.form}

    def intent_of_form(self, form: str) -> str | None:
        return next((intent for intent, flow in self.forms.items() if flow.form == form), None)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "flows.yml") -> Flows:
        flows = {}
        for intent, spec in (data.get("flows") or {}).items():
            if not isinstance(spec, dict) or not spec.get("action"):
                raise BrandError(f"{where}: flow {intent!r} needs an `action` (and a `form` if it has one)")
            flows[intent] = Flow(intent, str(spec["action"]), spec.get("form"))
        chitchat = data.get("chitchat") or {}
        if not isinstance(chitchat, dict):
            raise BrandError(f"{where}: `chitchat` maps an intent to the response that answers it")
        return cls(flows, dict(chitchat), frozenset(data.get("slot_intents") or ()))


@dataclass(frozen=True)
class OrderNumbers:
    """How the brand's order numbers look (brand.yml `orders.number`)."""

    pattern: str  # regex, case-insensitive; group 1 is the part the canonical form keeps
    format: str  # the canonical form from group 1, e.g. "BB-{}"
    example: str = ""

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile(rf"\b{self.pattern}\b", re.IGNORECASE)

    def find(self, text: str) -> str | None:
        """The first order number in free text, in its canonical form, or None."""
        match = self.regex.search(text or "")
        return self.format.format(match.group(1)) if match else None

    def mentioned(self, text: str) -> bool:
        return bool(self.regex.search(text or ""))


# words of product names that do not say what it is ("Cove Bath Towel Set": a towel)
NOT_KINDS = frozenset({"set", "pack", "person"})


def singular(word: str) -> str:
    """`word` with a plural's s dropped ("kettles": kettle; not "glass", nor "bus")."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@dataclass(frozen=True)
class ProductKinds:
    """What the brand sells, by kind: each catalogue name's last word that says what the
    product is ("Harbor Glass Kettle": kettle; "Harbor Wool Socks (3 pack)": socks)."""

    kinds: frozenset[str]

    @classmethod
    def of(cls, names: list[str]) -> ProductKinds:
        kinds = set()
        for name in names:
            words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]*", re.sub(r"\(.*?\)", "", name))]
            words = [w for w in words if w not in NOT_KINDS and "-" not in w]
            if words:
                kinds.add(words[-1])
        return cls(frozenset(kinds))

    @property
    def regex(self) -> re.Pattern[str] | None:
        return _kinds_regex(self.kinds)

    def mentioned(self, text: str) -> bool:
        """`text` names a kind of product the brand sells (a plural too: "kettles", "knives")."""
        return bool(self.regex and self.regex.search(text or ""))


@lru_cache(maxsize=8)
def _kinds_regex(kinds: frozenset[str]) -> re.Pattern[str] | None:
    if not kinds:
        return None
    forms = set()
    for kind in kinds:
        stem = singular(kind)
        forms |= {stem, stem + "s", stem + "es"}
        if stem.endswith("fe"):  # knife: knives
            forms.add(stem[:-2] + "ves")
    alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)


@dataclass(frozen=True)
class Brand:
    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    def path(self, relative: str | Path) -> Path:
        """A path a brand file gives (relative to the brand folder, or absolute)."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.root / path

    # the folders and files of the layout
    config = property(lambda self: self.root / "config.yml")
    domain = property(lambda self: self.root / "domain")
    data = property(lambda self: self.root / "data")
    nlu_dir = property(lambda self: self.root / "data" / "nlu")
    sources = property(lambda self: self.root / "sources")
    qa_file = property(lambda self: self.root / "qa.jsonl")
    gate_file = property(lambda self: self.root / "gate.yml")
    gate_labelled = property(lambda self: self.root / "gate_labelled.jsonl")
    orders_seed = property(lambda self: self.root / "orders.json")
    voice_file = property(lambda self: self.root / "voice.yml")
    voice_dir = property(lambda self: self.root / "voice")
    site_dir = property(lambda self: self.root / "site")
    stories_dir = property(lambda self: self.root / "tests" / "stories")
    conversations_dir = property(lambda self: self.root / "tests" / "conversations")
    actions_file = property(lambda self: self.root / "actions.py")

    def _yaml(self, name: str, default: Any = None) -> Any:
        path = self.root / name
        if not path.exists():
            if default is not None:
                return default
            raise BrandError(f"{path} is missing: every brand has one (`tandem new` scaffolds a brand)")
        return copy.deepcopy(_parsed(path, *_stamp(path)))

    def facts(self) -> dict[str, Any]:
        """brand.yml: names, contacts, hours; every reply that speaks of the company uses these."""
        return self._yaml("brand.yml")

    def policy(self) -> dict[str, Any]:
        return self._yaml("policy.yml", {})

    def answers(self) -> dict[str, Any]:
        return self._yaml("answers.yml", {})

    def products(self) -> list[dict[str, Any]]:
        """The catalogue (products.yml, optional): sku, name, category, price."""
        return self._yaml("products.yml", [])

    def product_names(self) -> list[str]:
        return [p["name"] for p in self.products()]

    def product_categories(self) -> dict[str, str]:
        """Each product's category (products.yml `category`: "kitchen", "outdoor"), by name."""
        return {p["name"]: str(p["category"]) for p in self.products() if p.get("category")}

    def own_names(self) -> list[str]:
        """The brand's own names (brand.yml `name`, `legal_name`): what "you" means to a customer."""
        facts = self.facts()
        return [str(facts[key]) for key in ("name", "legal_name") if facts.get(key)]

    def product_kinds(self) -> ProductKinds:
        return ProductKinds.of(self.product_names())

    def flows(self) -> Flows:
        return Flows.from_dict(self._yaml("flows.yml", {}), str(self.root / "flows.yml"))

    def orders(self) -> dict[str, Any]:
        """brand.yml `orders`: the back end (`sqlite` or `http` and its settings) and `number`."""
        return self.facts().get("orders") or {}

    def retention_days(self) -> float:
        """brand.yml `privacy: retention_days`: how long conversations, the handoff list and
        logs are kept (default 30)."""
        value = (self.facts().get("privacy") or {}).get("retention_days", 30)
        try:
            days = float(value)
        except (TypeError, ValueError):
            days = -1.0
        if days <= 0:
            raise BrandError(
                f"{self.root / 'brand.yml'}: `privacy.retention_days` must be a positive number of days"
            )
        return days

    def order_numbers(self) -> OrderNumbers:
        spec = self.orders().get("number") or {}
        if not spec.get("pattern") or not spec.get("format"):
            raise BrandError(
                f"{self.root / 'brand.yml'}: `orders.number` needs a `pattern` (a regex whose group 1 is "
                "the number's own part) and a `format` (e.g. 'BB-{}')"
            )
        return OrderNumbers(str(spec["pattern"]), str(spec["format"]), str(spec.get("example", "")))


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=64)
def _parsed(path: Path, _mtime_ns: int, _size: int) -> Any:
    """A brand file parsed once per version of it: the action server reads brand.yml and
    flows.yml on every form step, and parsing YAML was a third of its time. An edited file
    (new mtime or size) is read again; callers get a copy, so none can change another's."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise BrandError(f"{path} is not valid YAML: {error}") from None


def brand_from(value: str | None) -> Brand:
    """The brand named by $TANDEM_BRAND: a folder name under bot/brands/, or a path."""
    value = value or DEFAULT_BRAND
    candidates = [Path(value).expanduser()] if os.sep in value or value.startswith(".") else []
    candidates.append(BRANDS_DIR / value)
    for folder in candidates:
        if (folder / "brand.yml").is_file():
            return Brand(folder.resolve())
    known = sorted(p.name for p in BRANDS_DIR.iterdir() if (p / "brand.yml").is_file())
    raise BrandError(
        f"no brand {value!r}: TANDEM_BRAND names a folder of bot/brands/ ({', '.join(known)}) or a "
        "path to a folder with a brand.yml; `tandem new NAME` creates one"
    )
