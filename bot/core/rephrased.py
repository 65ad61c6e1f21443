"""Where the marked responses in the brand's wording are shared: a Redis hash, by brand, of
each template as it is to be sent (slots as placeholders), by the digest of the template.

actions/server.py (``publish_rephrasings``) writes it when the voice model has rephrased
them; bot/rasa_side/nlg.py reads and fills it, so such a response needs no call to the
action server. Standard library only: the Rasa process imports it
(tests/unit/test_layers.py ``SHARED_WITH_RASA``).
"""

from __future__ import annotations

import hashlib

REPHRASED = "tandem:rephrased:"  # + the brand's folder name


def text_digest(text: str) -> str:
    """The field of a template in the hash."""
    return hashlib.sha256(text.encode()).hexdigest()[:24]
