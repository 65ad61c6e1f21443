"""`tandem bench stack | retrieval | ingest | answers | adapter | gate | security | load | faults |
conversations | stream | console | cost`: the benchmarks of bot/bench/, each writing its report under docs/benchmarks/
with --save (stack and security: always)."""

from __future__ import annotations

import argparse

from bot.bench import (
    adapter,
    answers,
    console,
    conversations,
    cost,
    faults,
    gate,
    ingest,
    load,
    retrieval,
    security,
    stream,
    voice,
)
from bot.bench import stack as stack_bench


def cmd_stack(args: argparse.Namespace) -> int:
    stack_bench.main(turns=args.turns, concurrency=args.concurrency, fresh_setup=args.fresh_setup)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks; results are written under docs/benchmarks/")
    bsub = p.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    q = bsub.add_parser("stack", help="Rasa training, start-up, REST turn latency (1 and N clients)")
    q.add_argument("--turns", type=int, default=240, help="turns per measurement (default 240)")
    q.add_argument("--concurrency", type=int, default=20, help="concurrent conversations (default 20)")
    q.add_argument(
        "--fresh-setup", action="store_true", help="also time `make setup` in a fresh clone (minutes)"
    )
    q.set_defaults(func=cmd_stack)
    for module in (
        retrieval,
        ingest,
        answers,
        adapter,
        gate,
        security,
        load,
        faults,
        conversations,
        stream,
        console,
        cost,
        voice,
    ):
        module.add_parser(bsub)
