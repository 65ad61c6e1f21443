"""The checks the Rasa channels make before Rasa reads a message (bot/rasa_side/guard.py)."""

from __future__ import annotations

import pytest

from bot.rasa_side import guard


@pytest.fixture
def signer() -> guard.SessionSigner:
    return guard.SessionSigner(b"k" * 32)


def test_an_issued_token_verifies_to_its_conversation(signer):
    conversation_id, token = signer.issue()
    assert token.startswith(conversation_id + ".") and signer.verify(token) == conversation_id
    assert len(conversation_id) == 32 and signer.issue()[0] != conversation_id


def _altered(signature: str) -> str:
    """The signature with its first character changed (always to another one)."""
    return ("B" if signature[0] == "A" else "A") + signature[1:]


@pytest.mark.parametrize(
    "forge",
    [
        lambda cid, token: cid,  # the id alone, as a tracker or a log shows it
        lambda cid, token: f"{cid}.",
        lambda cid, token: f"{cid}.{_altered(token.split('.')[1])}",
        lambda cid, token: f"{'0' * 32}.{token.split('.')[1]}",  # another id, this signature
        lambda cid, token: token + ".x",
        lambda cid, token: None,
        lambda cid, token: 42,
        lambda cid, token: {"session_id": token},
    ],
    ids=[
        "bare-id",
        "empty-signature",
        "altered-signature",
        "other-id",
        "extra-part",
        "none",
        "number",
        "object",
    ],
)
def test_anything_but_the_issued_token_is_refused(signer, forge):
    conversation_id, token = signer.issue()
    assert signer.verify(forge(conversation_id, token)) is None


def test_a_token_of_another_install_is_refused(signer):
    _, token = guard.SessionSigner(b"z" * 32).issue()
    assert signer.verify(token) is None


def test_the_key_comes_from_the_file_tandem_up_makes(tmp_path, monkeypatch):
    monkeypatch.delenv("TANDEM_SESSION_KEY_FILE", raising=False)
    with pytest.raises(guard.GuardError, match="tandem up"):
        guard.SessionSigner.from_environment()
    key = tmp_path / "session-key"
    key.write_text("s" * 48)
    monkeypatch.setenv("TANDEM_SESSION_KEY_FILE", str(key))
    _, token = guard.SessionSigner.from_environment().issue()
    assert guard.SessionSigner(b"s" * 48).verify(token)


def test_a_message_over_the_limit_gets_the_shorten_reply(monkeypatch):
    monkeypatch.setenv("TANDEM_MAX_MESSAGE_CHARS", "100")
    assert guard.too_long("x" * 100) is None
    reply = guard.too_long("x" * 101)
    assert "101 characters" in reply and "100" in reply
    assert guard.too_long("y" * 150, "{length}/{limit}") == "150/100"


@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_a_bad_limit_is_refused_with_its_name(monkeypatch, value):
    monkeypatch.setenv("TANDEM_MAX_MESSAGE_CHARS", value)
    with pytest.raises(guard.GuardError, match="TANDEM_MAX_MESSAGE_CHARS"):
        guard.max_message_chars()


def test_a_log_preview_never_holds_the_whole_message():
    secret = "card 4111 1111 1111 1111 " + "x" * 500
    assert len(guard.preview(secret)) < 70 and "525 characters" in guard.preview(secret)
    assert guard.preview("short") == "'short'"


def test_only_configured_origins_may_open_a_socket(monkeypatch):
    monkeypatch.setenv("TANDEM_CORS", "http://127.0.0.1:5055 https://shop.example/")
    assert guard.origin_allowed("https://shop.example")
    assert guard.origin_allowed("http://127.0.0.1:5055")
    assert not guard.origin_allowed("https://evil.example")
    assert guard.origin_allowed(None)  # not a browser: the signed session id still applies
    assert guard.origin_allowed("http://127.0.0.1:5005", host="127.0.0.1:5005")  # same origin
    assert not guard.origin_allowed("https://evil.example", host="127.0.0.1:5005")
    monkeypatch.setenv("TANDEM_CORS", "*")
    assert guard.origin_allowed("https://anywhere.example")


def test_a_rate_limit_allows_a_burst_then_the_steady_rate():
    limiter = guard.RateLimiter(per_minute=6)
    assert [limiter.allow("c", now=0.0) for _ in range(7)] == [True] * 6 + [False]
    assert not limiter.allow("c", now=5.0)  # one message every 10 s
    assert limiter.allow("c", now=11.0) and not limiter.allow("c", now=11.5)
    assert limiter.allow("other", now=11.5)  # keys are counted apart


def test_a_rate_limiter_forgets_idle_keys_beyond_its_size():
    limiter = guard.RateLimiter(per_minute=60, max_keys=10)
    for number in range(11):
        limiter.allow(f"k{number}", now=0.0)
    limiter.allow("late", now=120.0)
    assert len(limiter._buckets) == 1


def test_conversation_and_client_limits_apply_together(monkeypatch):
    monkeypatch.setenv("TANDEM_RATE_PER_CONVERSATION", "2")
    monkeypatch.setenv("TANDEM_RATE_PER_CLIENT", "3")
    limits = guard.MessageLimits()
    assert limits.allow("a", "10.0.0.1") and limits.allow("a", "10.0.0.1")
    assert not limits.allow("a", "10.0.0.1")  # the conversation's limit
    assert not limits.allow("b", "10.0.0.1")  # the client's limit (3 sent)
    assert limits.allow("b", "10.0.0.2")


def test_loopback_clients_are_not_limited_by_address(monkeypatch):
    monkeypatch.setenv("TANDEM_RATE_PER_CLIENT", "1")
    limits = guard.MessageLimits()
    assert all(limits.allow(f"conversation-{n}", "127.0.0.1") for n in range(5))


def test_a_failure_is_logged_in_one_line_with_its_cause():
    try:
        try:
            raise ConnectionRefusedError("connection refused")
        except ConnectionRefusedError as error:
            raise RuntimeError("could not load the conversation") from error
    except RuntimeError as error:
        line = guard.failure(error)
    assert (
        line
        == "RuntimeError: could not load the conversation (from ConnectionRefusedError: connection refused)"
    )
    assert "\n" not in line
    assert guard.failure(RuntimeError("Error while acquiring lock. Error:\n  refused")) == (
        "RuntimeError: Error while acquiring lock. Error: refused"
    )


def test_a_sockets_client_is_read_through_trusted_proxies_as_sanic_reads_rest(monkeypatch):
    environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "10.0.0.9, 203.0.113.7"}
    monkeypatch.delenv("SANIC_PROXIES_COUNT", raising=False)
    assert guard.client_address(environ) == "127.0.0.1"  # no proxy trusted: the peer
    monkeypatch.setenv("SANIC_PROXIES_COUNT", "1")  # HAProxy in front: what it saw
    assert guard.client_address(environ) == "203.0.113.7"
    monkeypatch.setenv("SANIC_PROXIES_COUNT", "2")
    assert guard.client_address(environ) == "10.0.0.9"
    monkeypatch.setenv("SANIC_PROXIES_COUNT", "3")  # fewer hops than trusted: the peer
    assert guard.client_address(environ) == "127.0.0.1"
    assert guard.client_address({"REMOTE_ADDR": "127.0.0.1"}) == "127.0.0.1"
    monkeypatch.setenv("SANIC_PROXIES_COUNT", "x")
    assert guard.client_address(environ) == "127.0.0.1"
