"""Rasa's responses rendered in the Rasa process, and sent to the action server only when they
are to be rephrased in the brand's voice.

endpoints.yml names it (``nlg: type: bot.rasa_side.nlg.LocalFirstNLG``, with the action
server's ``/nlg`` url). Before, every response of every turn went to the action server: Rasa
serialised the whole conversation, the action server rendered the template and Rasa
validated the answer against a JSON schema, a round trip per response that a stock bot does
not pay (``tandem bench cost``). Now:

- a response with a variation marked ``metadata: {rephrase: true}`` (or one the domain does
  not know) goes to the action server as before (actions/nlg.py, adapters/serve.py), unless
  it is one the action server rephrased when its voice model loaded (the responses without
  slots, in a Redis hash: ``shared_redis.REPHRASED``), which is read here;
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

import logging
import os
from typing import Any

from rasa.core.nlg.callback import CallbackNaturalLanguageGenerator
from rasa.core.nlg.generator import ResponseVariationFilter
from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

from bot.rasa_side import shared_redis

logger = logging.getLogger(__name__)


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

    def rephrased_text(self, text: str) -> str | None:
        """The response as the action server rephrased it when the voice model loaded (its
        rephrasing, or the text itself when that failed a check), or None: not written yet,
        a response with slots filled in, or no shared Redis."""
        if self._redis is None:  # the stack's Redis (db 0, as the action server's), and the key
            self._redis = shared_redis.client(db=0, socket_timeout=0.2) or False
            brand = os.path.basename(os.environ.get("TANDEM_BRAND", "").rstrip("/"))
            self._rephrased_key = shared_redis.REPHRASED + brand
        if not self._redis:
            return None
        try:
            found = self._redis.hget(self._rephrased_key, shared_redis.text_digest(text))
        except Exception as error:  # Redis slow or down: the action server still answers
            logger.warning("could not read the rephrased responses: %s", error)
            return None
        return found.decode() if isinstance(found, bytes) else found

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
        local = await super().generate(utter_action, tracker, output_channel, **kwargs)
        said = self.rephrased_text(local["text"]) if local and local.get("text") else None
        if said is not None:  # written when the voice model loaded: no call to the action server
            return {**local, "text": said}
        try:
            return await self.remote.generate(utter_action, tracker, output_channel, **kwargs)
        except Exception as error:  # the action server down: the response as written, not silence
            if utter_action not in self.responses:
                raise
            logger.warning(
                "rendering %s here, as written: the action server did not answer (%s)", utter_action, error
            )
            return await super().generate(utter_action, tracker, output_channel, **kwargs)
