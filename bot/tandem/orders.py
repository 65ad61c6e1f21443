"""`tandem orders reset | show | list`: the brand's orders.

`show` asks whatever back end the brand uses (brand.yml `orders`); `reset` and `list` are
for the sample SQLite store, which a team's own API replaces.
"""

from __future__ import annotations

import argparse
import json
import sys

from bot.core.orders import ORDER_STATUSES, OrderBackendError, order_backend
from bot.core.orders.sqlite import SQLiteOrders
from bot.core.settings import get_settings


def cmd_orders(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        backend = order_backend(settings)
        if args.orders_command == "show":
            number = settings.brand.order_numbers().find(args.number) or args.number
            order = backend.find(number)
            if order is None:
                print(f"no order {args.number}", file=sys.stderr)
                return 1
            print(json.dumps(order.__dict__, default=str, indent=2))
            return 0
        if not isinstance(backend, SQLiteOrders):
            print(
                f"error: `tandem orders {args.orders_command}` works on the sample SQLite store; brand "
                f"{settings.brand.name} uses its own order API",
                file=sys.stderr,
            )
            return 2
        if args.orders_command == "reset":
            count = backend.reset()
            print(f"orders database {backend.path} reset: {count} orders")
        elif args.orders_command == "list":
            for number in backend.orders_with_status(args.status):
                print(number)
    except OrderBackendError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("orders", help="the brand's orders (the sample store, or its order API)")
    osub = p.add_subparsers(dest="orders_command", required=True, metavar="ACTION")
    osub.add_parser(
        "reset", help="rebuild the sample store from the brand's orders.json (dates relative to today)"
    )
    q = osub.add_parser("show", help="print one order")
    q.add_argument("number", help="order number, e.g. BB-100001")
    q = osub.add_parser("list", help="list the sample store's order numbers with a status")
    q.add_argument("--status", required=True, choices=ORDER_STATUSES)
    p.set_defaults(func=cmd_orders)
