"""A knowledge store that does not answer, told from one that is not usable as configured.

Light to import (the action server's actions catch :class:`StoreUnavailable` without
loading Qdrant's client)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from bot.core.errors import causes


class StoreUnavailable(Exception):
    """The store did not answer: a Qdrant server down, unreachable or failing. Unlike a
    store that is not built, this passes: the customer is asked to try again in a moment."""


def unreachable(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a Qdrant server that did not answer: no
    connection, a timeout, a server error (5xx). A refused request (4xx) is not."""
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    kinds = (StoreUnavailable, ResponseHandlingException, httpx.TransportError, ConnectionError, TimeoutError)
    return any(
        isinstance(cause, kinds) or (isinstance(cause, UnexpectedResponse) and cause.status_code >= 500)
        for cause in causes(error)
    )


@contextlib.contextmanager
def said_unavailable() -> Iterator[None]:
    """Turns an error of a store that did not answer into :class:`StoreUnavailable`."""
    try:
        yield
    except Exception as error:
        if unreachable(error):
            raise StoreUnavailable(f"the knowledge store did not answer: {error}") from error
        raise
