"""`tandem`: run, train, test and inspect the support assistant.

Every command takes --help. Settings come from environment variables (.env.example);
TANDEM_BRAND chooses the brand served (a folder of bot/brands/, default brightbay).
"""

from __future__ import annotations

import argparse
import logging
import sys

from bot.core.brand import BrandError
from bot.tandem import adapter, bench, gate, handoff, kb, new, orders, privacy, report, run, testing

log = logging.getLogger("tandem")

# one module per command group, in the order `tandem --help` lists them
COMMANDS = (run, testing, orders, handoff, report, privacy, kb, bench, adapter, gate, new)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tandem", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except BrandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
