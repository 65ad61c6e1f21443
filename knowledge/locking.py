"""Serialise calls into a Qdrant client shared by threads.

Local-mode Qdrant keeps its data in Python structures, so a search must not run while a
refresh thread writes. Each client call takes the lock; embedding happens outside it, so
a refresh holds the lock only for the short writes and searches go on between them.
"""

from __future__ import annotations

import threading
from typing import Any


class LockedClient:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return locked
