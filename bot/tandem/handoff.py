"""`tandem handoff list | back SENDER`: conversations handed over to a human agent.

The same queue as the console's inbox (/agent/ on the action server, bot/console/)."""

from __future__ import annotations

import argparse
import sys
import time

import redis

from bot.console import handoffs
from bot.core.settings import get_settings


def cmd_handoff(args: argparse.Namespace) -> int:
    settings = get_settings()
    store = handoffs.store_for(settings)
    try:
        if args.handoff_command == "list":
            waiting = handoffs.queue(store)
            for entry in waiting:
                since = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.since))
                print(f"{entry.sender}\t{since}\t{entry.reason}\t{entry.claimed_by or 'unclaimed'}")
            if not waiting:
                print("no conversation is waiting for an agent")
            print(f"agents answer them in the console: {settings.actions_url}/agent/", file=sys.stderr)
            return 0
        said = handoffs.hand_back(settings, store, args.sender)
    except redis.ConnectionError:
        print("error: Redis is not running; start the stack with `tandem up`", file=sys.stderr)
        return 1
    except handoffs.ConsoleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"conversation {args.sender} is back with the assistant; it said:")
    for message in said:
        print(f"  {message['text']}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("handoff", help="conversations handed over to a human agent")
    hsub = p.add_subparsers(dest="handoff_command", required=True, metavar="ACTION")
    hsub.add_parser("list", help="conversations waiting for an agent (id, since, reason, claimed by)")
    q = hsub.add_parser("back", help="hand a conversation back to the assistant, which greets the customer")
    q.add_argument("sender", help="the conversation (sender) id")
    p.set_defaults(func=cmd_handoff)
