"""Generate the sample brand's order seed, ``orders.json`` (the brand's, `TANDEM_BRAND`).

Deterministic (fixed seed), so the committed file is reproducible:

    python -m bot.seed.orders

Dates are stored as "days ago" and turned into real dates when the database is reset, so
that "inside the return window" keeps meaning the same thing whatever day it is.
"""

from __future__ import annotations

import json
import random

from bot.core.settings import current_brand

FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kemi",
    "Liam",
    "Maya",
    "Noor",
    "Oscar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
]
LAST = [
    "Silva",
    "Okafor",
    "Martin",
    "Patel",
    "Novak",
    "Haddad",
    "Kim",
    "Laurent",
    "Costa",
    "Berg",
    "Adeyemi",
    "Walsh",
    "Chen",
    "Rahman",
    "Lind",
    "Iyer",
    "Doyle",
    "Vega",
]
STREETS = ["Oak Street", "Harbor Road", "Maple Avenue", "Pine Lane", "Elm Court", "Bay Drive"]
CITIES = [
    ("Portland", "ME", "04101"),
    ("Burlington", "VT", "05401"),
    ("Halifax", "NS", "B3H 1A1"),
    ("Providence", "RI", "02903"),
    ("Toronto", "ON", "M5V 2T6"),
    ("Boston", "MA", "02108"),
]
CARRIERS = ["UPS", "FedEx", "Canada Post", "USPS"]

# status -> how many orders, and the (placed, shipped, delivered) "days ago" ranges.
PLAN = {
    "pending": (8, (0, 1), None, None),
    "processing": (8, (1, 3), None, None),
    "shipped": (8, (3, 6), (1, 2), None),
    "out_for_delivery": (6, (4, 7), (2, 4), None),
    "delivered": (16, (8, 70), (6, 66), (2, 62)),
    "cancelled": (6, (5, 30), None, None),
    "returned": (6, (30, 60), (28, 56), (25, 50)),
}


def _between(rng: random.Random, lo_hi: tuple[int, int] | None) -> int | None:
    return None if lo_hi is None else rng.randint(*lo_hi)


def generate(seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    products = current_brand().products()
    customers = []
    for i in range(30):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        customers.append({"name": f"{first} {last}", "email": f"{first.lower()}.{last.lower()}@example.com"})
    orders, number = [], 100001
    for status, (count, placed, shipped, delivered) in PLAN.items():
        for _ in range(count):
            who = rng.choice(customers)
            city, region, postcode = rng.choice(CITIES)
            # build the timeline backwards from the latest event so it stays ordered
            d_delivered = _between(rng, delivered)
            d_shipped = _between(rng, shipped)
            if d_delivered is not None:
                d_shipped = d_delivered + rng.randint(2, 5)
            d_placed = _between(rng, placed)
            if d_shipped is not None:
                d_placed = d_shipped + rng.randint(0, 2)
            items = [
                {"sku": p["sku"], "name": p["name"], "price": p["price"], "qty": rng.randint(1, 2)}
                for p in rng.sample(products, rng.randint(1, 3))
            ]
            shipped_at_all = d_shipped is not None
            orders.append(
                {
                    "number": f"BB-{number}",
                    "email": who["email"],
                    "name": who["name"],
                    "status": status,
                    "placed_days_ago": d_placed,
                    "shipped_days_ago": d_shipped,
                    "delivered_days_ago": d_delivered,
                    "address": f"{rng.randint(1, 240)} {rng.choice(STREETS)}, {city}, {region} {postcode}",
                    "carrier": rng.choice(CARRIERS) if shipped_at_all else None,
                    "tracking_number": f"1Z{rng.randint(10**9, 10**10 - 1)}" if shipped_at_all else None,
                    "eta_days": rng.randint(1, 4) if status in ("shipped", "out_for_delivery") else None,
                    "items": items,
                }
            )
            number += 1
    return orders


def main() -> None:
    orders = generate()
    out = current_brand().orders_seed
    out.write_text(json.dumps(orders, indent=1) + "\n")
    print(f"wrote {len(orders)} orders to {out}")


if __name__ == "__main__":
    main()
