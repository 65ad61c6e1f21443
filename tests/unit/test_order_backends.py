"""The order back ends: the sample SQLite store and a team's REST API (bot/core/orders/).

The same cases run on both (they must agree), the HTTP one against a real HTTP server
started here (tests/order_api.py); then the API's failures (timeout, 404, 409, 500, down,
a bad token) through the real form and flow actions: the customer always gets a clear
reply, and nothing is done twice or half way.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from actions import order_flows, order_forms
from actions.order_flows import ActionCancelOrder, ActionStartReturn, ActionTrackOrder
from actions.order_forms import ValidateTrackOrderForm
from bot.core.orders import OrderBackendError, OrderRefused, OrdersUnavailable, order_backend
from bot.core.orders.http import HTTPOrders
from bot.core.orders.sqlite import SQLiteOrders
from bot.core.settings import Settings, current_brand
from tests.order_api import OrderAPI
from tests.unit.conftest import replay, responses, slot_events


def sample_store(path) -> SQLiteOrders:
    store = SQLiteOrders(path, current_brand().orders_seed)
    store.reset()
    return store


@pytest.fixture
def api(tmp_path):
    with OrderAPI(sample_store(tmp_path / "api.sqlite")) as server:
        yield server


@pytest.fixture(params=["sqlite", "http"])
def backend(request, tmp_path):
    """Each back end over its own fresh copy of the sample orders."""
    if request.param == "sqlite":
        yield sample_store(tmp_path / "orders.sqlite")
    else:
        with OrderAPI(sample_store(tmp_path / "api.sqlite")) as server:
            yield HTTPOrders(server.url, timeout=5)


def comparable(order):
    return replace(order, email="")  # an API need not disclose the email


def test_both_back_ends_find_the_same_orders(backend, tmp_path):
    reference = sample_store(tmp_path / "reference.sqlite")
    for number in ("BB-100001", "BB-100031", "BB-100017"):
        assert comparable(backend.find(number)) == comparable(reference.find(number))
    assert backend.find("BB-999999") is None


def test_both_back_ends_check_the_email(backend, tmp_path):
    email = sample_store(tmp_path / "reference.sqlite").find("BB-100001").email
    assert backend.email_matches("BB-100001", email)
    assert backend.email_matches("BB-100001", email.upper())
    assert not backend.email_matches("BB-100001", "someone.else@example.com")
    assert not backend.email_matches("BB-999999", email)


def test_both_back_ends_make_the_changes(backend):
    backend.cancel("BB-100010")
    assert backend.find("BB-100010").status == "cancelled"
    backend.change_address("BB-100009", "12 Oak Street, Portland, ME 04101")
    assert backend.find("BB-100009").address == "12 Oak Street, Portland, ME 04101"
    sku = backend.find("BB-100031").items[0].sku
    assert backend.create_return("BB-100031", sku, "too small").startswith("RMA-")
    backend.request_password_reset("nobody@example.com")  # the same either way: no error


def test_a_password_reset_is_recorded_only_for_a_customer(tmp_path, api):
    HTTPOrders(api.url).request_password_reset(api.store.find("BB-100001").email)
    HTTPOrders(api.url).request_password_reset("nobody@example.com")
    with api.store._connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM password_resets").fetchone()[0] == 1


def test_the_api_s_errors_become_the_back_end_s(api):
    orders = HTTPOrders(api.url, timeout=0.3)
    assert orders.find("BB-000000") is None  # 404: no such order, not an error
    api.refuse_changes = True
    with pytest.raises(OrderRefused):
        orders.cancel("BB-100010")
    assert api.store.find("BB-100010").status == "processing"
    api.refuse_changes = False
    with pytest.raises(OrderRefused):
        orders.cancel("BB-999999")  # a change of an order the API does not know
    api.fail_with = 500
    with pytest.raises(OrdersUnavailable, match="answered 500"):
        orders.find("BB-100001")
    api.fail_with, api.delay = None, 1.0
    with pytest.raises(OrdersUnavailable, match="no answer within 0.3 s"):
        orders.find("BB-100001")


def test_an_api_that_is_down_or_refuses_the_token_says_so(api):
    down = HTTPOrders("http://127.0.0.1:9", timeout=1)  # the discard port: nothing listens
    with pytest.raises(OrdersUnavailable):
        down.find("BB-100001")
    api.token = "s3cret"
    with pytest.raises(OrderBackendError, match="refused the credentials"):
        HTTPOrders(api.url).find("BB-100001")
    assert HTTPOrders(api.url, token="s3cret").find("BB-100001") is not None
    assert api.requests[-1][:2] == ("GET", "/orders/BB-100001")


def test_an_order_the_assistant_cannot_read_is_an_error_not_a_crash(api, monkeypatch):
    monkeypatch.setattr(api, "route", lambda method, parts, body: (200, {"number": "BB-1", "status": "lost"}))
    with pytest.raises(OrderBackendError, match="status 'lost'"):
        HTTPOrders(api.url).find("BB-1")


def test_brand_yml_chooses_the_back_end(tmp_path, monkeypatch):
    brand = tmp_path / "acme"
    brand.mkdir()
    (brand / "brand.yml").write_text(
        "name: Acme\norders:\n  backend: http\n  url: http://orders.acme.internal\n"
    )
    monkeypatch.setenv("ACME_TOKEN", "t")
    monkeypatch.setenv("TANDEM_BRAND", str(brand))
    backend = order_backend(Settings())
    assert isinstance(backend, HTTPOrders) and backend.url == "http://orders.acme.internal"
    (brand / "brand.yml").write_text("name: Acme\norders:\n  backend: http\n")
    with pytest.raises(Exception, match="needs `orders.url`"):
        order_backend(Settings())
    (brand / "brand.yml").write_text("name: Acme\norders:\n  backend: erp\n")
    with pytest.raises(Exception, match="`sqlite` or `http`"):
        order_backend(Settings())
    monkeypatch.delenv("TANDEM_BRAND")
    assert isinstance(order_backend(Settings()), SQLiteOrders)  # the sample brand's default


@pytest.fixture
def over_http(api, monkeypatch):
    """The flows' actions talk to the order API (as a brand with `backend: http` does)."""
    orders = HTTPOrders(api.url, timeout=0.3)
    monkeypatch.setattr(order_forms, "order_backend", lambda: orders)
    monkeypatch.setattr(order_flows, "order_backend", lambda: orders)
    return api


async def test_a_flow_runs_over_the_api(over_http, dispatcher, domain):
    events = await ValidateTrackOrderForm().run(
        dispatcher, replay("track_pending", "track_order_form", occurrence=3), domain
    )
    assert slot_events(events) == {"email": "kemi.doyle@example.com"}
    await ActionTrackOrder().run(dispatcher, replay("track_pending", "action_track_order"), domain)
    assert responses(dispatcher) == ["utter_order_status_pending"]
    assert ("POST", "/orders/BB-100001/verify", {"email": "kemi.doyle@example.com"}) in over_http.requests


@pytest.mark.parametrize("failure", ["500", "timeout"])
async def test_an_api_that_fails_mid_form_ends_the_form_with_a_clear_reply(
    over_http, dispatcher, domain, failure
):
    over_http.fail_with, over_http.delay = (500, 0.0) if failure == "500" else (None, 1.0)
    tracker = replay("track_pending", "track_order_form", occurrence=3)  # the email step
    events = await ValidateTrackOrderForm().run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_orders_unavailable"]
    # the form ends (nothing half verified); the customer may ask again, or for a person
    assert slot_events(events) == {"email": None, "flow_blocked": True, "requested_slot": None}


async def test_a_cancellation_the_api_cannot_make_is_reported_and_not_made(over_http, dispatcher, domain):
    over_http.fail_with = 500
    events = await ActionCancelOrder().run(
        dispatcher, replay("cancel_processing", "action_cancel_order"), domain
    )
    assert responses(dispatcher) == ["utter_orders_unavailable"]
    assert over_http.store.find("BB-100010").status == "processing"
    assert slot_events(events)["confirm_cancel"] is None  # the flow's slots are cleared
    over_http.fail_with = None
    over_http.refuse_changes = True
    dispatcher.messages.clear()
    await ActionCancelOrder().run(dispatcher, replay("cancel_processing", "action_cancel_order"), domain)
    assert responses(dispatcher) == ["utter_order_change_refused"]
    assert over_http.store.find("BB-100010").status == "processing"


async def test_a_return_the_api_refuses_is_reported(over_http, dispatcher, domain):
    over_http.refuse_changes = True
    await ActionStartReturn().run(dispatcher, replay("return_multi_item", "action_start_return"), domain)
    assert responses(dispatcher) == ["utter_order_change_refused"]
    assert dispatcher.messages[0]["order_number"].startswith("BB-")


def test_every_reply_of_a_failing_back_end_is_in_the_domain(domain):
    for name in ("utter_orders_unavailable", "utter_order_change_refused"):
        assert name in domain["responses"]
