"""The outgoing handoff webhook: for a team whose agents work in another helpdesk.

When $TANDEM_HANDOFF_WEBHOOK names a URL, every handoff is POSTed there as JSON (the
format is in docs/console.md), signed with HMAC-SHA256 of the body in the header
``X-Tandem-Signature: sha256=<hex>`` when $TANDEM_HANDOFF_WEBHOOK_SECRET is set. It is sent
from a background thread with a 5 s timeout and 3 tries: a slow helpdesk never holds up
the customer's turn, and a failure is logged, not raised. The conversation stays in the
console's queue either way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from typing import Any

import requests

from bot.console import evidence
from bot.core import privacy

logger = logging.getLogger(__name__)

TRIES = 3


def payload(sender: str, reason: str, events: list[dict[str, Any]], console_url: str, now: float) -> dict:
    """The JSON of one handoff; every text in it masked of personal data."""
    state = {"events": events, "slots": {}}
    pack = evidence.evidence(state)
    return privacy.mask_value(
        {
            "event": "handoff",
            "conversation_id": sender,
            "reason": reason,
            "reason_text": evidence.REASONS.get(reason, reason),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "last_message": evidence.last_customer_message(events),
            "summary": pack.summary,
            "transcript": [
                {"speaker": e.speaker, "text": e.text, "time": e.time, "route": e.route}
                for e in pack.transcript
            ],
            "console_url": console_url,
        }
    )


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(url: str, body: dict, secret: str = "", tries: int = TRIES, pause: float = 1.0) -> bool:
    """POST the handoff; True once the receiver answered 2xx."""
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "tandem-handoff/1"}
    if secret:
        headers["X-Tandem-Signature"] = signature(secret, data)
    for attempt in range(1, tries + 1):
        try:
            answer = requests.post(url, data=data, headers=headers, timeout=5)
            if answer.ok:
                return True
            logger.warning("handoff webhook: %s answered %s (try %d)", url, answer.status_code, attempt)
        except requests.RequestException as error:
            logger.warning("handoff webhook: %s: %s (try %d)", url, error, attempt)
        if attempt < tries:
            time.sleep(pause * attempt)
    return False


def notify(
    sender: str, reason: str, events: list[dict[str, Any]], console_url: str
) -> threading.Thread | None:
    """Send the handoff in the background when a webhook is configured; the thread, or None."""
    url = os.environ.get("TANDEM_HANDOFF_WEBHOOK", "").strip()
    if not url:
        return None
    body = payload(sender, reason, events, console_url, time.time())
    secret = os.environ.get("TANDEM_HANDOFF_WEBHOOK_SECRET", "")
    thread = threading.Thread(target=post, args=(url, body, secret), name="handoff-webhook", daemon=True)
    thread.start()
    return thread
