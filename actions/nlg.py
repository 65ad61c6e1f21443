"""Rasa's responses, rendered by the action server (Rasa's NLG endpoint protocol).

endpoints.yml points Rasa's `nlg` at the action server's ``POST /nlg``: Rasa sends the
response name, its arguments and the tracker, and gets the message back. Rendering is
Rasa's own for this domain (the variation for the channel and slot conditions, ``{slot}``
filled from slots and arguments); a response marked ``metadata: {rephrase: true}`` is filled
in the brand's wording of its template, written when the voice model loaded
(actions/server.py ``warm_rephrasings``, adapters/serve.py), and sent as written when that
failed a check or is not written yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from adapters.guards import SLOT
from bot.core.settings import current_brand


def responses() -> dict[str, list[dict[str, Any]]]:
    return _responses(current_brand().domain)


@lru_cache(maxsize=4)
def _responses(domain: Path) -> dict[str, list[dict[str, Any]]]:
    """The responses of the brand's domain, read once per process (Rasa reads the domain
    from the trained model, so an edit needs `tandem train` and a restart anyway)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(domain.glob("*.yml")):
        found.update((yaml.safe_load(path.read_text()) or {}).get("responses") or {})
    return found


def interpolate(text: str, values: dict[str, Any]) -> str:
    """`{name}` filled from values, as Rasa does; an unknown or unset name stays as written."""

    def fill(match: re.Match) -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None else str(value)

    return SLOT.sub(fill, text)


def _matches(variation: dict[str, Any], slots: dict[str, Any]) -> bool:
    """Every condition of the variation met by the slots (text compared without case, as Rasa does)."""
    for condition in variation.get("condition") or []:
        value, wanted = slots.get(condition.get("name")), condition.get("value")
        if isinstance(value, str) and isinstance(wanted, str):
            if value.casefold() != wanted.casefold():
                return False
        elif value != wanted:
            return False
    return True


def choose(variations: list[dict[str, Any]], channel: str | None, slots: dict[str, Any]) -> dict[str, Any]:
    """The first eligible variation in Rasa's order (rasa/core/nlg/generator.py
    ``responses_for_utter_action``): a condition met and this channel, then this channel, then a
    condition met, then any. Rasa picks one of that group at random; here, and in the Rasa
    process (bot/rasa_side/nlg.py), the first, so a reply reads the same wherever it is made."""
    met = [v for v in variations if v.get("condition") and _matches(v, slots)]
    plain = [v for v in variations if not v.get("condition")]
    for group in (
        [v for v in met if channel is not None and v.get("channel") == channel],
        [v for v in plain if channel is not None and v.get("channel") == channel],
        [v for v in met if v.get("channel") is None],
        [v for v in plain if v.get("channel") is None],
    ):
        if group:
            return group[0]
    return {}


def render(request: dict[str, Any], reworded: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The message for Rasa. `reworded`: templates marked for rephrasing, in the brand's
    wording, by template (actions/server.py ``warm_rephrasings``); a marked template found
    there is filled in its wording."""
    name = request.get("response") or ""
    slots = ((request.get("tracker") or {}).get("slots")) or {}
    values = {**slots, **(request.get("arguments") or {})}
    variation = choose(responses().get(name, []), (request.get("channel") or {}).get("name"), slots)
    message: dict[str, Any] = {}
    template = variation.get("text") or ""
    if reworded and (variation.get("metadata") or {}).get("rephrase"):
        template = reworded.get(template, template)
    if template:
        message["text"] = interpolate(template, values)
    if variation.get("buttons"):
        message["buttons"] = [
            {
                **b,
                "title": interpolate(str(b.get("title", "")), values),
                "payload": interpolate(str(b.get("payload", "")), values),
            }
            for b in variation["buttons"]
        ]
    for key in ("image", "custom", "attachment", "elements"):
        if variation.get(key) is not None:
            message[key] = variation[key]
    return message
