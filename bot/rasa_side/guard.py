"""Checks every customer message passes before Rasa reads it, and the widget's signed ids.

Runs inside the Rasa server (the channels of credentials.yml); standard library only, so
the project's tests import it too. Settings come from the environment that `tandem up`
gives the Rasa process (bot/core/settings.py: ``Settings.env``).

- **Size**: NLU's first stages grow faster than linearly with a message's length (a 100 KB
  message took Rasa to 9.7 GB), so a message longer than ``TANDEM_MAX_MESSAGE_CHARS``
  (default 2000) is answered at once with a request to shorten it; it is never parsed,
  stored or logged beyond a short preview.
- **Sessions**: a widget conversation id is issued by the server and signed with the
  install's key (``TANDEM_SESSION_KEY_FILE``): the token the widget keeps is
  ``<id>.<signature>``; the conversation (tracker, handoff list, logs) is named by the id
  alone, so knowing a conversation's id is not enough to join it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import time
import uuid
from pathlib import Path

from bot.core import privacy

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_CHARS = 2000
TOO_LONG_REPLY = (
    "That message is too long for me to read ({length} characters; the most I can take is "
    "{limit}). Could you shorten it, or send it in a few parts?"
)
UNREADABLE_REPLY = "Sorry, I could not read that message. Could you type it again?"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
LOOPBACK_ADDRESSES = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


class GuardError(Exception):
    """The guard is misconfigured; the message says how to fix it."""


def _positive_int(name: str, default: int, what: str) -> int:
    """$name as a positive whole number (`what` names its unit in the error), or `default`."""
    value = os.environ.get(name, "")
    try:
        number = int(value) if value else default
    except ValueError:
        raise GuardError(f"{name}={value!r} is not a whole number of {what}") from None
    if number <= 0:
        raise GuardError(f"{name}={value!r} must be positive")
    return number


def max_message_chars() -> int:
    return _positive_int("TANDEM_MAX_MESSAGE_CHARS", DEFAULT_MAX_MESSAGE_CHARS, "characters")


def preview(text: str, chars: int = 40) -> str:
    """What a log may say of a refused message: its start and its length, never all of it."""
    start = text[:chars].replace("\n", " ")
    return f"{start!r}... ({len(text)} characters)" if len(text) > chars else repr(start)


def too_long(text: str, template: str = TOO_LONG_REPLY) -> str | None:
    """The reply to a message over the limit, or None when the message may go on."""
    limit = max_message_chars()
    if len(text) <= limit:
        return None
    return template.format(length=len(text), limit=limit)


def failure(error: BaseException) -> str:
    """One line for the log of why Rasa failed on a message (no traceback: a part of the
    stack being down is an operating condition, and its own log says more)."""
    cause = error.__cause__ or error.__context__
    text = f"{type(error).__name__}: {error}"
    if cause:
        text += f" (from {type(cause).__name__}: {cause})"
    return " ".join(text.split())  # Rasa's own messages may span lines


def allowed_origins() -> list[str]:
    """Browser origins allowed to open the widget's socket ($TANDEM_CORS, as `tandem up`
    passes it to Rasa's --cors; '*' allows every origin)."""
    return os.environ.get("TANDEM_CORS", "").replace(",", " ").split()


def origin_allowed(origin: str | None, host: str | None = None) -> bool:
    """A browser's Origin may connect when configured; a client without one (no browser),
    or one whose origin is the server itself (`host`, same origin), may."""
    if not origin or (host and origin.rstrip("/").split("://", 1)[-1] == host):
        return True
    allowed = allowed_origins()
    return "*" in allowed or origin.rstrip("/") in {o.rstrip("/") for o in allowed}


class SessionSigner:
    """Issues and checks the widget's signed conversation ids (HMAC-SHA256)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise GuardError("the session key is too short (16 bytes at least)")
        self._key = key

    @classmethod
    def from_environment(cls) -> SessionSigner:
        path = os.environ.get("TANDEM_SESSION_KEY_FILE")
        if not path:
            raise GuardError(
                "TANDEM_SESSION_KEY_FILE is not set: start Rasa with `tandem up`, which makes the "
                "key ($TANDEM_HOME/session-key) and passes its path"
            )
        try:
            return cls(Path(path).read_bytes().strip())
        except OSError as error:
            raise GuardError(f"cannot read the session key {path}: {error}; `tandem up` makes it") from None

    def _signature(self, conversation_id: str) -> str:
        digest = hmac.new(self._key, f"tandem-session:{conversation_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self) -> tuple[str, str]:
        """A new conversation: its id, and the token the widget keeps."""
        conversation_id = uuid.uuid4().hex
        return conversation_id, f"{conversation_id}.{self._signature(conversation_id)}"

    def verify(self, token: object) -> str | None:
        """The conversation id of a genuine token, else None."""
        if not isinstance(token, str) or token.count(".") != 1 or len(token) > 200:
            return None
        conversation_id, signature = token.split(".")
        if not conversation_id or not hmac.compare_digest(signature, self._signature(conversation_id)):
            return None
        return conversation_id


RATE_LIMITED_REPLY = (
    "You're sending messages faster than I can read them. Please wait a few seconds and try again."
)


class RateLimiter:
    """Token buckets by key: each key may send `per_minute` messages a minute, in bursts of
    up to `per_minute`. In memory, per process: the stack shares them in Redis instead
    (:class:`SharedRateLimiter`)."""

    def __init__(self, per_minute: int, max_keys: int = 100_000) -> None:
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0  # tokens a second
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.refill)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.max_keys:
            self._forget_full(now)
        return allowed

    def _forget_full(self, now: float) -> None:
        """Drop keys whose bucket has refilled (they would start full anyway)."""
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self.refill >= self.capacity:
                del self._buckets[key]


# KEYS: the bucket; ARGV: capacity, refill (tokens a millisecond). 1: allowed, 0: not.
TOKEN_BUCKET = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local capacity, refill = tonumber(ARGV[1]), tonumber(ARGV[2])
local kept = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(kept[1]) or capacity
local at = tonumber(kept[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * refill)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / refill) + 1000)
return allowed
"""


class SharedRateLimiter:
    """:class:`RateLimiter`'s buckets in Redis, so that every Sanic worker and every Rasa
    replica counts the same messages (one script per message: atomic, Redis' clock). Keys
    are hashes of the conversation id or address, and expire once full again. If Redis
    does not answer, the message is allowed: it then fails on Redis itself, with the
    "having trouble" reply."""

    def __init__(self, client: object, name: str, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.refill = per_minute / 60_000.0  # tokens a millisecond
        self.prefix = f"tandem:rate:{name}:"
        self._script = client.register_script(TOKEN_BUCKET)  # type: ignore[attr-defined]

    def allow(self, key: str) -> bool:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        try:
            return bool(self._script(keys=[self.prefix + digest], args=[self.capacity, self.refill]))
        except Exception as error:  # noqa: BLE001 (any Redis failure: see the class' text)
            logger.warning("rate limit not checked (Redis: %s)", error)
            return True


def client_address(environ: dict) -> str:
    """A socket.io customer's address, for the per-client limit: the socket's peer, or, behind
    N trusted proxies ($SANIC_PROXIES_COUNT, which `tandem up --replicas` sets to 1 for
    HAProxy), the address the outermost of them saw, the N-th from the right of the upgrade
    request's X-Forwarded-For: what Sanic reads for a REST request (``request.remote_addr``).
    Without it every customer behind the balancer had HAProxy's address, and no limit."""
    peer = str(environ.get("REMOTE_ADDR") or "")
    try:
        proxies = int(os.environ.get("SANIC_PROXIES_COUNT") or 0)
    except ValueError:
        proxies = 0
    if proxies <= 0:
        return peer
    forwarded = [part.strip() for part in str(environ.get("HTTP_X_FORWARDED_FOR") or "").split(",")]
    forwarded = [part for part in forwarded if part]
    return forwarded[-proxies] if len(forwarded) >= proxies else peer


class MessageLimits:
    """Per-conversation and per-client rate limits ($TANDEM_RATE_PER_CONVERSATION, default
    30 a minute; $TANDEM_RATE_PER_CLIENT, default 120 a minute, by the client's address;
    not for loopback addresses, which are a proxy's or a test's)."""

    def __init__(self, redis_client: object | None = None) -> None:
        """`redis_client`: the stack's Redis, where the limits are shared by every worker
        and replica; without one each process counts its own."""
        per_conversation = _positive_int("TANDEM_RATE_PER_CONVERSATION", 30, "messages per minute")
        per_client = _positive_int("TANDEM_RATE_PER_CLIENT", 120, "messages per minute")
        if redis_client is None:
            self.conversations: RateLimiter | SharedRateLimiter = RateLimiter(per_conversation)
            self.clients: RateLimiter | SharedRateLimiter = RateLimiter(per_client)
        else:
            self.conversations = SharedRateLimiter(redis_client, "conversation", per_conversation)
            self.clients = SharedRateLimiter(redis_client, "client", per_client)

    def allow(self, conversation_id: str, client: str | None) -> bool:
        # a client on this machine is a reverse proxy or a test: every customer behind a
        # proxy shares its address, so the proxy limits clients (DESIGN.md, scale-out)
        if client and client not in LOOPBACK_ADDRESSES and not self.clients.allow(client):
            logger.warning("rate limit: client %s sends too fast", client)
            return False
        if not self.conversations.allow(conversation_id):
            logger.warning("rate limit: conversation %s sends too fast", conversation_id)
            return False
        return True


TROUBLE_REPLY = "Sorry, I'm having trouble right now. Please try again in a moment."
CARD_HIDDEN_REPLY = (
    "For your safety I've hidden the card details you typed: please never share a card number "
    "or security code in chat."
)


class MessageGuard:
    """Every check a channel makes on a customer's message before Rasa reads it.

    Replies come from the channel's settings in credentials.yml (``too_long_reply``,
    ``rate_limited_reply``, ``card_hidden_reply``, ``trouble_reply``), else the defaults above.
    """

    def __init__(self, credentials: dict | None = None, redis_client: object | None = None) -> None:
        given = credentials or {}
        self.too_long_reply = given.get("too_long_reply") or TOO_LONG_REPLY
        self.rate_limited_reply = given.get("rate_limited_reply") or RATE_LIMITED_REPLY
        self.card_hidden_reply = given.get("card_hidden_reply") or CARD_HIDDEN_REPLY
        # when Rasa fails on a message (Redis or the action server down): never silence
        self.trouble_reply = given.get("trouble_reply") or TROUBLE_REPLY
        self.limit = max_message_chars()  # a bad setting stops Rasa at start-up
        self.limits = MessageLimits(redis_client)

    def screen(self, text: str, conversation_id: str, client: str | None) -> tuple[str | None, list[str]]:
        """(the text Rasa may read, or None when it must not read it; replies to send now).

        Card numbers, security codes and phone numbers, which no flow needs, are masked
        here, so they never reach Rasa, its logs or the stored conversation."""
        if not self.limits.allow(conversation_id, client):
            return None, [self.rate_limited_reply]
        reply = too_long(text, self.too_long_reply)
        if reply is not None:
            logger.warning("refused a message over the size limit: %s", privacy.mask(preview(text)))
            return None, [reply]
        masked, found = privacy.mask_counted(text, privacy.NOT_NEEDED)
        if found:
            logger.info("masked %s in a message of %s", dict(found), conversation_id)
        hidden = found.get("card") or found.get("cvv")
        return masked, [self.card_hidden_reply] if hidden else []
