"""What Rasa 3.6 does when the action server fails, made safe for the conversation.

Rasa renders every response through the action server (endpoints.yml ``nlg``) and runs the
custom actions there. When that server is down, slow or failing, Rasa 3.6 logs the error,
drops the action's events and goes on predicting: the reply is empty, the policies predict
the fallback again and again until the circuit breaker stops them (10 actions), and then no
``action_listen`` is ever logged. The breaker counts actions since the last
``action_listen``, so from then on it trips at once on every message: the conversation is
dead even after the action server is back.

:func:`install` (called by bot/rasa_side/launch.py before Rasa starts) changes two things:

- An action whose call to the action server fails (no connection, an HTTP error, no answer
  within ``TANDEM_ACTION_TIMEOUT`` seconds, default 20) stops the turn with
  :class:`ActionServerFailed`. The turn is not saved, so the conversation stays as it was
  before the message; the channels answer with their short "having trouble" reply
  (bot/rasa_side/rest_channel.py, widget_channel.py), and the next message, once the
  server is back, continues the conversation, form and slots included.
- If the circuit breaker trips anyway, an ``action_listen`` is logged, so the next message
  is predicted afresh instead of tripping it again.
- A tracker store that cannot be reached (Redis down, restarting or loading) stops the turn
  with :class:`TrackerStoreUnavailable`, as a failed action call does. Rasa wraps every
  tracker store in ``FailSafeTrackerStore``, which on any error reads the conversation as
  new and saves it in process memory instead: a turn that took its lock just before Redis
  went away was answered normally and never saved, and one read while Redis was coming back
  started the conversation afresh (``tandem bench faults`` found forms losing their slots
  that way). Other errors of the store keep Rasa's fallback.

It patches two methods of ``rasa.core.processor.MessageProcessor`` and the two error handlers
of ``rasa.core.tracker_store.FailSafeTrackerStore``: Rasa is pinned to
3.6.21 (bot/requirements-rasa.txt); tests/integration/test_faults.py checks the behaviour
against the real server.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from bot.core.errors import caused_by

logger = logging.getLogger(__name__)


class ActionServerFailed(Exception):
    """A call to the action server failed: the turn stops and is not saved."""


class TrackerStoreUnavailable(Exception):
    """The tracker store could not be reached: the turn stops and is not saved."""


def store_unreachable(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is Redis not answering: no connection, a timeout,
    still loading its data."""
    import redis

    return caused_by(error, (redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError))


class _Interrupted(BaseException):
    """Carries a failed call past Rasa's own handler (which logs it and goes on)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def action_timeout() -> float:
    value = os.environ.get("TANDEM_ACTION_TIMEOUT", "")
    try:
        seconds = float(value) if value else 20.0
    except ValueError:
        seconds = -1
    if seconds <= 0:
        raise SystemExit(f"TANDEM_ACTION_TIMEOUT={value!r} is not a number of seconds")
    return seconds


def failed_call(error: BaseException) -> bool:
    """Whether `error` is (or was caused by) a failed HTTP call or a timeout."""
    import aiohttp

    return caused_by(error, (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError))


def install() -> None:
    """Patch Rasa's MessageProcessor (see the module's text). Safe to call twice."""
    from rasa.core.actions.action import ActionExecutionRejection
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted

    if getattr(MessageProcessor, "_tandem_faults", False):
        return
    timeout = action_timeout()
    run_action = MessageProcessor._run_action
    init = MessageProcessor.__init__

    async def _run_action(self: Any, action: Any, tracker: Any, *args: Any, **kwargs: Any) -> bool:
        run = action.run  # the action object is made for this prediction alone

        async def guarded(*run_args: Any, **run_kwargs: Any) -> Any:
            try:
                return await asyncio.wait_for(run(*run_args, **run_kwargs), timeout)
            except ActionExecutionRejection:  # a form's answer, not a failure
                raise
            except Exception as error:
                if failed_call(error):
                    raise _Interrupted(error) from error  # past Rasa's `except Exception`
                raise

        action.run = guarded
        try:
            return await run_action(self, action, tracker, *args, **kwargs)
        except _Interrupted as interrupted:
            error = interrupted.error
            reason = (
                "no answer in time" if isinstance(error, asyncio.TimeoutError) else str(error).split("\n")[0]
            )
            raise ActionServerFailed(f"action '{action.name()}' failed: {reason}") from error

    def listen_after_circuit_break(tracker: Any, *_: Any) -> None:
        tracker.update(ActionExecuted(ACTION_LISTEN_NAME))

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if self.on_circuit_break is None:
            self.on_circuit_break = listen_after_circuit_break

    MessageProcessor._run_action = _run_action
    MessageProcessor.__init__ = __init__
    MessageProcessor._tandem_faults = True
    _strict_tracker_store()


def _strict_tracker_store() -> None:
    """FailSafeTrackerStore's error handlers raise for an unreachable store (see above)."""
    from rasa.core.tracker_store import FailSafeTrackerStore

    for name in ("on_tracker_store_error", "on_tracker_store_retrieve_error"):
        handler = getattr(FailSafeTrackerStore, name)

        def strict(self: Any, error: Exception, _handler: Any = handler) -> None:
            if store_unreachable(error):
                raise TrackerStoreUnavailable(f"the tracker store is unreachable: {error}") from error
            _handler(self, error)

        setattr(FailSafeTrackerStore, name, strict)
