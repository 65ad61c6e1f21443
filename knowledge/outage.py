"""A knowledge store that does not answer, told from one that is not usable as configured.

Light to import (the action server's actions catch :class:`StoreUnavailable` without
loading Qdrant's client)."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The store did not answer: a Qdrant server down, unreachable or failing. Unlike a
    store that is not built, this passes: the customer is asked to try again in a moment."""


def unreachable(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a Qdrant server that did not answer: no
    connection, a timeout, a server error (5xx). A refused request (4xx) is not."""
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, StoreUnavailable | ResponseHandlingException | httpx.TransportError):
            return True
        if isinstance(current, ConnectionError | TimeoutError):
            return True
        if isinstance(current, UnexpectedResponse) and current.status_code >= 500:
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
