"""A real HTTP server that speaks the order API of bot/brands/README.md, for the tests of
the ``http`` order back end. It keeps its orders in a sample SQLite store, and can be told
to misbehave: answer slowly, answer with a status, or drop off.

    with OrderAPI(store) as api:       # listening on 127.0.0.1, a free port
        HTTPOrders(api.url).find("BB-100001")
        api.fail_with = 500            # every request answers 500 from now on
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from bot.core.orders.sqlite import SQLiteOrders


def order_json(store: SQLiteOrders, number: str) -> dict[str, Any] | None:
    order = store.find(number)
    if order is None:
        return None
    data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in order.__dict__.items()}
    data["items"] = [item.__dict__ for item in order.items]
    data.pop("email")  # an API need not disclose it: the back end checks it with /verify
    return data


class OrderAPI:
    def __init__(self, store: SQLiteOrders, token: str = "") -> None:
        self.store = store
        self.token = token
        self.delay = 0.0  # seconds before every answer
        self.fail_with: int | None = None  # a status every request gets instead
        self.refuse_changes = False  # every change answers 409, as when the order moved on
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, body) as received
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self, status: int, body: Any = None) -> None:
                payload = json.dumps(body if body is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                api.requests.append((method, self.path, body))
                time.sleep(api.delay)
                if api.fail_with:
                    return self._answer(api.fail_with, {"error": "the test made this fail"})
                if api.token and self.headers.get("Authorization") != f"Bearer {api.token}":
                    return self._answer(401, {"error": "no token"})
                status, answer = api.route(
                    method, [unquote(p) for p in self.path.strip("/").split("/")], body
                )
                self._answer(status, answer)

            def do_GET(self) -> None:  # noqa: N802  (http.server's names)
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def route(self, method: str, parts: list[str], body: dict) -> tuple[int, Any]:
        store = self.store
        if parts == ["password-resets"] and method == "POST":
            store.request_password_reset(body.get("email", ""))
            return 202, {}
        if len(parts) < 2 or parts[0] != "orders":
            return 404, {"error": "no such endpoint"}
        number, action = parts[1], parts[2] if len(parts) > 2 else None
        order = store.find(number)
        if order is None:
            return 404, {"error": f"no order {number}"}
        if method == "GET" and action is None:
            return 200, order_json(store, number)
        if self.refuse_changes and action in ("cancel", "address", "returns"):
            return 409, {"error": "the order has moved on"}
        if action == "verify":
            return 200, {"match": store.email_matches(number, body.get("email", ""))}
        if action == "cancel":
            if order.status not in ("pending", "processing"):
                return 409, {"error": f"order is {order.status}"}
            store.cancel(number)
            return 200, order_json(store, number)
        if action == "address":
            store.change_address(number, body["address"])
            return 200, order_json(store, number)
        if action == "returns":
            return 201, {"return_number": store.create_return(number, body["sku"], body.get("reason", ""))}
        return 404, {"error": "no such endpoint"}

    def __enter__(self) -> OrderAPI:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
