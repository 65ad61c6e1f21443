"""A Qdrant server that stops answering (knowledge/outage.py): searches raise
StoreUnavailable, which the action turns into "having trouble", and work again once it
answers; a store that is wrongly set up is not mistaken for one that is down."""

from __future__ import annotations

import httpx
import pytest
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import UnexpectedResponse

from knowledge.outage import StoreUnavailable, unreachable
from knowledge.store import StoreError
from tests.conftest import free_port


def down_client() -> QdrantClient:
    """A real client of a Qdrant server that is not there (nothing listens on the port)."""
    return QdrantClient(url=f"http://127.0.0.1:{free_port()}", timeout=2)


def test_a_server_that_is_not_there_is_unreachable():
    with pytest.raises(Exception) as raised:
        down_client().get_collections()
    assert unreachable(raised.value)


@pytest.mark.parametrize(
    ("error", "down"),
    [
        (UnexpectedResponse(503, "Service Unavailable", b"", httpx.Headers()), True),
        (UnexpectedResponse(404, "Not Found", b"", httpx.Headers()), False),  # a wrong collection
        (StoreError("unknown fusion"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_a_store_that_does_not_answer_is_unavailable(error, down):
    assert unreachable(error) is down


def test_searches_fail_while_the_server_is_down_and_work_when_it_is_back(make_kb):
    kb = make_kb()
    kb.refresh()
    assert kb.search("gift cards")
    working = kb.store.client
    kb.store.client = down_client()
    with pytest.raises(StoreUnavailable):
        kb.search("gift cards")
    kb.store.client = working  # the server answers again: nothing was kept of the failure
    assert kb.search("gift cards")[0].source == "faq.yml"
