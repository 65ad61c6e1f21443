"""The ``http`` order back end: a team's own REST API (brand.yml ``orders: {backend: http}``).

The API speaks JSON (bot/brands/README.md, "The order API"):

    GET  {url}/orders/{number}                      200 order | 404
    POST {url}/orders/{number}/verify   {email}     200 {"match": bool} | 404
    POST {url}/orders/{number}/cancel               200 | 404 | 409 (refused)
    POST {url}/orders/{number}/address  {address}   200 | 404 | 409
    POST {url}/orders/{number}/returns  {sku, reason}  201 {"return_number": ...} | 404 | 409
    POST {url}/password-resets          {email}     202 (whether or not it is a customer)

An order is ``{number, status, name, placed_on, shipped_on, delivered_on, eta, address,
carrier, tracking_number, items: [{sku, name, price, qty}], email?}`` with ISO dates.
With ``token_env`` set, every request carries ``Authorization: Bearer $TOKEN``.

A timeout, a refused connection or a 5xx raises OrdersUnavailable; 409 (or 404 on a
change) raises OrderRefused; anything else unexpected raises OrderBackendError. Nothing is
retried: a change the API may not have applied is never sent twice.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from urllib.parse import quote

import requests

from bot.core.orders.base import (
    ORDER_STATUSES,
    Item,
    Order,
    OrderBackend,
    OrderBackendError,
    OrderRefused,
    OrdersUnavailable,
)

logger = logging.getLogger(__name__)


def _day(value: Any) -> date | None:
    return date.fromisoformat(str(value)) if value else None


def order_from_json(data: dict[str, Any]) -> Order:
    """An Order from the API's JSON; OrderBackendError naming what is wrong with it."""
    try:
        status = str(data["status"])
        if status not in ORDER_STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(ORDER_STATUSES)}")
        return Order(
            number=str(data["number"]),
            email=str(data.get("email") or ""),
            name=str(data.get("name") or ""),
            status=status,
            placed_on=_day(data["placed_on"]),
            shipped_on=_day(data.get("shipped_on")),
            delivered_on=_day(data.get("delivered_on")),
            eta=_day(data.get("eta")),
            address=str(data.get("address") or ""),
            carrier=data.get("carrier"),
            tracking_number=data.get("tracking_number"),
            items=tuple(
                Item(str(i["sku"]), str(i["name"]), float(i["price"]), int(i.get("qty", 1)))
                for i in data.get("items") or []
            ),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise OrderBackendError(f"the order API sent an order this assistant cannot read: {error}") from None


class HTTPOrders(OrderBackend):
    def __init__(self, url: str, token: str = "", timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def _request(self, method: str, path: str, json: dict[str, Any] | None = None) -> requests.Response:
        try:
            response = self.session.request(method, self.url + path, json=json, timeout=self.timeout)
        except requests.Timeout:
            raise OrdersUnavailable(f"{method} {path}: no answer within {self.timeout:g} s") from None
        except requests.RequestException as error:
            raise OrdersUnavailable(f"{method} {path}: {error}") from None
        if response.status_code >= 500:
            raise OrdersUnavailable(f"{method} {path}: the order API answered {response.status_code}")
        if response.status_code in (401, 403):
            raise OrderBackendError(
                f"{method} {path}: the order API refused the credentials ({response.status_code}); "
                "check the token in the variable brand.yml's orders.token_env names"
            )
        return response

    def _change(self, path: str, json: dict[str, Any] | None = None) -> requests.Response:
        response = self._request("POST", path, json)
        if response.status_code in (404, 409):
            raise OrderRefused(f"POST {path}: {response.status_code} {response.text[:200]}")
        if not response.ok:
            raise OrderBackendError(f"POST {path}: unexpected {response.status_code}")
        return response

    @staticmethod
    def _order_path(number: str) -> str:
        return f"/orders/{quote(number, safe='')}"

    @staticmethod
    def _json(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise OrderBackendError(f"the order API sent no JSON ({response.status_code})") from None

    def find(self, number: str) -> Order | None:
        response = self._request("GET", self._order_path(number))
        if response.status_code == 404:
            return None
        if not response.ok:
            raise OrderBackendError(f"GET order {number}: unexpected {response.status_code}")
        return order_from_json(self._json(response))

    def email_matches(self, number: str, email: str) -> bool:
        response = self._request("POST", self._order_path(number) + "/verify", {"email": email})
        if response.status_code == 404:
            return False
        if not response.ok:
            raise OrderBackendError(f"verify order {number}: unexpected {response.status_code}")
        return bool(self._json(response).get("match"))

    def cancel(self, number: str) -> None:
        self._change(self._order_path(number) + "/cancel")

    def change_address(self, number: str, address: str) -> None:
        self._change(self._order_path(number) + "/address", {"address": address})

    def create_return(self, number: str, sku: str, reason: str) -> str:
        response = self._change(self._order_path(number) + "/returns", {"sku": sku, "reason": reason})
        value = self._json(response).get("return_number")
        if not value:
            raise OrderBackendError(f"return on {number}: the order API sent no return_number")
        return str(value)

    def request_password_reset(self, email: str) -> None:
        response = self._request("POST", "/password-resets", {"email": email})
        if not response.ok:
            raise OrderBackendError(f"password reset: unexpected {response.status_code}")
