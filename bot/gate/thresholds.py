"""The gate's thresholds, typed: read from the brand's gate.yml, written back by calibration.

gate.yml is data (commented, calibrated by `tandem gate calibrate`); this module gives it
a shape, so a misspelt or missing key stops with the file and the key named, not with a
KeyError on some customer's turn. A threshold left out (None) switches its rule off.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml


class ThresholdsError(ValueError):
    """gate.yml is unusable; the message names the file and the key."""


@dataclass(frozen=True)
class NLU:
    embedding_weight: float = 0.0  # the embedding classifier's share of the intent ranking


@dataclass(frozen=True)
class Flow:
    min_confidence: float  # the top intent's confidence, to follow its flow
    min_margin: float  # over the runner-up


@dataclass(frozen=True)
class Knowledge:
    min_dense: float  # the best passage's cosine similarity to the question
    min_dense_agreeing: float  # the same, when dense and sparse search agree on the document
    min_dense_flow_question: float | None = None
    min_dense_over_neighbour_question: float | None = None
    min_dense_over_neighbour: float | None = None
    min_dense_product: float | None = None  # a message that names a kind of product the brand sells
    min_dense_on_topic: float | None = None  # a message whose best passage is in the document just cited


@dataclass(frozen=True)
class Neighbours:
    min_similarity_intent: float | None = None
    min_similarity_agreeing: float | None = None  # default: min_similarity_intent
    min_similarity_veto: float | None = None
    max_similarity_out_of_scope: float | None = None


@dataclass(frozen=True)
class OutOfScope:
    min_confidence: float


@dataclass(frozen=True)
class Clarify:
    min_candidate: float
    max_buttons: int
    min_dense_titles: float = 0.0


@dataclass(frozen=True)
class Verification:
    min_sentence_support: float


SECTIONS: dict[str, type] = {
    "nlu": NLU,
    "flow": Flow,
    "knowledge": Knowledge,
    "neighbours": Neighbours,
    "out_of_scope": OutOfScope,
    "clarify": Clarify,
    "verification": Verification,
}
OPTIONAL_SECTIONS = ("nlu", "neighbours")


@dataclass(frozen=True)
class Thresholds:
    flow: Flow
    knowledge: Knowledge
    out_of_scope: OutOfScope
    clarify: Clarify
    verification: Verification
    nlu: NLU = field(default_factory=NLU)
    neighbours: Neighbours = field(default_factory=Neighbours)
    topics: dict[str, str] = field(default_factory=dict)  # intent -> clarify button title

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "gate.yml") -> Thresholds:
        if not isinstance(data, dict):
            raise ThresholdsError(f"{where}: expected sections {', '.join(SECTIONS)}")
        unknown = sorted(set(data) - set(SECTIONS) - {"topics"})
        if unknown:
            raise ThresholdsError(f"{where}: unknown section(s) {unknown}; the sections are {list(SECTIONS)}")
        values: dict[str, Any] = {"topics": dict(data.get("topics") or {})}
        for name, kind in SECTIONS.items():
            section = data.get(name)
            if section is None and name in OPTIONAL_SECTIONS:
                continue
            if not isinstance(section, dict):
                raise ThresholdsError(f"{where}: section `{name}` is missing")
            known = {f.name: f for f in fields(kind)}
            extra = sorted(set(section) - set(known))
            if extra:
                raise ThresholdsError(f"{where}: `{name}` has unknown key(s) {extra}; known: {sorted(known)}")
            try:
                values[name] = kind(**{key: _number(section[key], f"{name}.{key}") for key in section})
            except TypeError as error:  # a required key is missing
                raise ThresholdsError(f"{where}: `{name}`: {error}") from None
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def value(self, section: str, key: str) -> Any:
        return getattr(getattr(self, section), key)

    def with_value(self, section: str, key: str, value: Any) -> Thresholds:
        """These thresholds with one value changed (calibration's search step)."""
        return replace(self, **{section: replace(getattr(self, section), **{key: value})})


def _number(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise ThresholdsError(f"gate.yml: {where} is {value!r}; it is a number (or left out)")


def load_thresholds(path: Path) -> Thresholds:
    """The thresholds in gate.yml, read again only when the file changed (the gate reads them
    on every turn; Thresholds is frozen, so one copy serves every caller)."""
    stat = path.stat()
    return _thresholds(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _thresholds(path: Path, _mtime_ns: int, _size: int) -> Thresholds:
    return Thresholds.from_dict(yaml.safe_load(path.read_text()), str(path))


def write_thresholds(thresholds: Thresholds, path: Path) -> None:
    """Put the values into the file, keeping its layout and comments."""
    data = thresholds.to_dict()
    section = None
    out = []
    for line in path.read_text().splitlines():
        top = re.match(r"^([a-z_]+):", line)
        if top:
            section = top.group(1)
        value = re.match(r"^(\s+)([a-z_]+):(\s*)(-?[0-9.]+)(.*)$", line)
        if value and isinstance(data.get(section), dict) and value.group(2) in data[section]:
            new = data[section][value.group(2)]
            line = f"{value.group(1)}{value.group(2)}:{value.group(3)}{new}{value.group(5)}"
        out.append(line)
    path.write_text("\n".join(out) + "\n")
