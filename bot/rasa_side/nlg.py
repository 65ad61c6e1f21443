"""Rasa's responses rendered in the Rasa process, and sent to the action server only when they
are to be rephrased in the brand's voice.

endpoints.yml names it (``nlg: type: bot.rasa_side.nlg.LocalFirstNLG``, with the action
server's ``/nlg`` url). Before, every response of every turn went to the action server: Rasa
serialised the whole conversation, the action server rendered the template and Rasa
validated the answer against a JSON schema, a round trip per response that a stock bot does
not pay (``tandem bench cost``). Now:

- a response with a variation marked ``metadata: {rephrase: true}`` is filled here in the
  brand's wording of its template, which the action server wrote when its voice model loaded
  (slots as placeholders, in a Redis hash: ``shared_redis.REPHRASED``); one not written yet,
  or one the domain does not know, goes to the action server (actions/nlg.py). An opener the
  wording adds ("Certainly!") is left out when one of the bot's last messages opened the same
  way, so that it is not said before every step of a form;
- every other response is rendered here by Rasa's own template generator, with the first
  eligible variation in Rasa's order (a condition met and this channel, this channel, a
  condition met, any), where Rasa would pick one of them at random. The action server's
  renderer (actions/nlg.py ``choose``) picks the same one, so a response reads the same
  whichever side renders it.

Scripted replies then keep working while the action server is down (one to be rephrased is
rendered here as written when the action server does not answer); form steps and custom
actions still need it (bot/rasa_side/faults.py answers politely meanwhile).
"""

from __future__ import annotations

import copy
import logging
import os
import re
import time
from typing import Any

from rasa.core.nlg.callback import CallbackNaturalLanguageGenerator
from rasa.core.nlg.generator import ResponseVariationFilter
from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

from bot.rasa_side import shared_redis

logger = logging.getLogger(__name__)


# the first sentence of a reply, when short: "Certainly!", "Happy to help."
OPENING = re.compile(r"\s*([^.!?]{1,40}[.!?])\s+")
RECENT = 3  # the bot's last messages an added opener is not repeated from
# how often the Rasa process reads the rephrased responses again (the action server writes
# them when its voice model loads)
REREAD_SECONDS = 10.0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def added_opener(template: str, said: str) -> re.Match[str] | None:
    """The opener the rephrasing put before the template ("Certainly! "), or None."""
    found = OPENING.match(said)
    return found if found and found.group(1).lower() not in template.lower() else None


def without_repeated_opener(template: str, said: str, tracker: Any) -> str:
    """`said` without its added opener when one of the bot's last messages opened the same
    way: "Certainly!" once, not before every step of a form."""
    opener = added_opener(template, said)
    if opener is None:
        return said
    recent = [
        event.text
        for event in reversed(getattr(tracker, "events", None) or [])
        if getattr(event, "type_name", "") == "bot" and getattr(event, "text", None)
    ][:RECENT]
    wanted = opener.group(1).lower()
    if any((OPENING.match(text) or [None, ""])[1].lower() == wanted for text in recent):
        return said[opener.end() :]
    return said


def rephrased(variations: list[dict[str, Any]]) -> bool:
    return any((variation.get("metadata") or {}).get("rephrase") for variation in variations)


class LocalFirstNLG(TemplatedNaturalLanguageGenerator):
    """Rasa's template generator for the responses not rephrased (the first eligible variation,
    not a random one), the action server's ``/nlg`` for the others.

    It is a template generator so that Rasa hands it the domain of each model it loads
    (rasa/core/agent.py sets ``responses`` on template generators only): the server is
    created before its model, with an empty domain."""

    def __init__(self, endpoint_config: EndpointConfig, domain: Domain | None = None) -> None:
        self.remote = CallbackNaturalLanguageGenerator(endpoint_config)
        super().__init__((domain or Domain.empty()).responses)

    _redis: Any = None
    _rephrased_key = ""
    _worded: dict[str, str] = {}  # noqa: RUF012 (replaced, never changed in place)
    _read_at = float("-inf")

    def rephrased_text(self, template: str) -> str | None:
        """The response template (slots as placeholders) as the action server rephrased it
        when the voice model loaded (its wording, or the template itself when that failed a
        check), or None: not written yet, or no shared Redis. The whole hash is read at most
        every `REREAD_SECONDS`, not once per response: a slow or down Redis costs one short
        timeout now and then, not one on every reply (the client is synchronous, on Rasa's
        event loop)."""
        if self._redis is None:  # the stack's Redis (db 0, as the action server's), and the key
            self._redis = shared_redis.client(db=0, socket_timeout=0.2) or False
            brand = os.path.basename(os.environ.get("TANDEM_BRAND", "").rstrip("/"))
            self._rephrased_key = shared_redis.REPHRASED + brand
        if not self._redis:
            return None
        now = time.monotonic()
        if now - self._read_at >= REREAD_SECONDS:
            self._read_at = now
            try:
                found = self._redis.hgetall(self._rephrased_key)
                self._worded = {_text(k): _text(v) for k, v in found.items()}
            except Exception as error:  # Redis slow or down: what was read stays
                logger.warning("could not read the rephrased responses: %s", error)
        return self._worded.get(shared_redis.text_digest(template))

    @property
    def responses(self) -> dict[str, list[dict[str, Any]]]:
        return self._responses

    @responses.setter
    def responses(self, responses: dict[str, list[dict[str, Any]]]) -> None:
        self._responses = responses
        self.rendered_here = {name for name, variations in responses.items() if not rephrased(variations)}

    def _random_response_for(
        self, utter_action: str, output_channel: str, filled_slots: dict[str, Any]
    ) -> dict[str, Any] | None:
        if utter_action not in self.responses:
            return None
        suitable = ResponseVariationFilter(self.responses).responses_for_utter_action(
            utter_action, output_channel, filled_slots
        )
        return suitable[0] if suitable else None

    async def generate(
        self, utter_action: str, tracker: Any, output_channel: str, **kwargs: Any
    ) -> dict[str, Any] | None:
        if utter_action in self.rendered_here:
            return await super().generate(utter_action, tracker, output_channel, **kwargs)
        filled_slots = tracker.current_slot_values()
        variation = self._random_response_for(utter_action, output_channel, filled_slots)
        said = self.rephrased_text(variation["text"]) if variation and variation.get("text") else None
        if said is not None:  # written when the voice model loaded: filled here, no call out
            said = without_repeated_opener(variation["text"], said, tracker)
            return self._fill_response({**copy.deepcopy(variation), "text": said}, filled_slots, **kwargs)
        try:
            return await self.remote.generate(utter_action, tracker, output_channel, **kwargs)
        except Exception as error:  # the action server down: the response as written, not silence
            if utter_action not in self.responses:
                raise
            logger.warning(
                "rendering %s here, as written: the action server did not answer (%s)", utter_action, error
            )
            return await super().generate(utter_action, tracker, output_channel, **kwargs)
