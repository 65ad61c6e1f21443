"""`tandem privacy forget SENDER | sweep`: remove one customer's data; enforce retention."""

from __future__ import annotations

import argparse
import json
import sys

import redis

from bot.core.settings import get_settings
from bot.stack import retention


def _print(report: retention.Report, as_json: bool, what: str) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    print(what)
    print(f"  conversations deleted:  {report.conversations}")
    print(f"  locks deleted:          {report.locks}")
    print(f"  handoff entries:        {report.handoffs}")
    print(f"  analytics events:       {report.analytics_events}")
    print(f"  log lines removed:      {report.log_lines} {report.log_files or ''}".rstrip())
    print(f"  append-only file:       {'rewritten' if report.aof_rewritten else 'unchanged'}")


def cmd_privacy(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        if args.privacy_command == "forget":
            report = retention.forget(settings, args.sender)
            _print(report, args.json, f"forgot conversation {args.sender!r}:")
        else:
            days = args.days if args.days is not None else settings.retention_days
            report = retention.sweep(settings, days)
            _print(report, args.json, f"removed what is older than {days:g} days:")
    except redis.ConnectionError:
        print("error: Redis is not running; start the stack with `tandem up`", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "privacy",
        help="remove one customer's data everywhere; delete what is past the retention period",
        description=(
            "Conversations are kept for the brand's retention period (brand.yml `privacy: "
            "retention_days`) after their last message; the action server sweeps the handoff "
            "list and old logs every hour. These commands do it now."
        ),
    )
    psub = p.add_subparsers(dest="privacy_command", required=True, metavar="ACTION")
    forget = psub.add_parser(
        "forget",
        help="delete one conversation: tracker, lock, handoff entry and claim, analytics events, log lines; rewrite Redis' file",
    )
    forget.add_argument(
        "sender", help="the conversation id (the tracker's name, as `tandem handoff list` shows)"
    )
    forget.add_argument("--json", action="store_true", help="print the report as JSON")
    sweep = psub.add_parser(
        "sweep", help="delete handoff entries, analytics events and rotated logs past the retention period"
    )
    sweep.add_argument("--days", type=float, help="override the brand's retention_days")
    sweep.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_privacy)
