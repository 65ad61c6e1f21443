"""`tandem handoff list | back SENDER`: conversations handed over to a human agent."""

from __future__ import annotations

import argparse
import sys
import time

import requests

from bot.core.settings import get_settings


def cmd_handoff(args: argparse.Namespace) -> int:
    from actions.handoff import HANDOFF_KEY
    from actions.services import redis_client

    settings = get_settings()
    if args.handoff_command == "list":
        waiting = redis_client().hgetall(HANDOFF_KEY)
        for sender, value in sorted(waiting.items()):
            since, reason = value.split(" ", 1)
            print(f"{sender}\t{time.strftime('%Y-%m-%d %H:%M', time.localtime(int(since)))}\t{reason}")
        if not waiting:
            print("no conversation is waiting for an agent")
        return 0
    response = requests.post(
        f"{settings.rasa_url}/conversations/{args.sender}/tracker/events",
        params={"token": settings.rasa_token},
        # resume, and start a new session: what the customer and the agent said meanwhile
        # stays in the history but does not steer the bot's next predictions
        json=[
            {"event": "resume"},
            {"event": "session_started"},
            {"event": "action", "name": "action_listen"},
        ],
        timeout=10,
    )
    if not response.ok:
        print(f"error: Rasa answered {response.status_code}: {response.text[:200]}", file=sys.stderr)
        return 1
    redis_client().hdel(HANDOFF_KEY, args.sender)
    print(f"conversation {args.sender} is back with the assistant")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("handoff", help="conversations handed over to a human agent")
    hsub = p.add_subparsers(dest="handoff_command", required=True, metavar="ACTION")
    hsub.add_parser("list", help="conversations waiting for an agent")
    q = hsub.add_parser("back", help="hand a conversation back to the assistant")
    q.add_argument("sender", help="the conversation (sender) id")
    p.set_defaults(func=cmd_handoff)
