"""`tandem`: run, train, test and inspect the support assistant.

Every command takes --help. Settings come from environment variables (.env.example).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import requests

from bot.orders import ORDER_STATUSES
from bot.settings import get_settings

log = logging.getLogger("tandem")


def cmd_up(args: argparse.Namespace) -> int:
    from bot import stack

    settings = get_settings()
    started = time.monotonic()
    print("Starting the assistant:")
    try:
        stack.up(settings)
    except stack.StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Ready in {time.monotonic() - started:.1f} s. Logs: {settings.logs_dir}")
    print("  chat in the terminal:  tandem chat")
    print(f"  REST:                  POST {settings.rasa_url}/webhooks/rest/webhook")
    print(f"  socket.io:             {settings.rasa_url}/socket.io")
    print(f"  web widget demo:       {settings.actions_url}/demo/")
    print("  stop everything:       tandem down")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from bot import stack

    stopped = stack.down(get_settings())
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from bot import stack, training

    settings = get_settings()
    rows = stack.status(settings)
    model = training.current_model(settings)
    if args.json:
        print(json.dumps({"components": rows, "model": str(model) if model else None}, indent=2))
    else:
        for row in rows:
            pid = f"pid {row['pid']}" if row["pid"] else ""
            print(f"{row['name']:8} {row['state']:22} {row['url']:40} {pid}")
        print(f"model    {'up to date: ' + model.name if model else 'stale or missing (run `tandem train`)'}")
        print(f"logs     {settings.logs_dir}")
    return 0 if all(r["state"] == "up" for r in rows) else 3


def cmd_train(args: argparse.Namespace) -> int:
    from bot import training

    settings = get_settings()
    print(
        "Training the Rasa model..." if args.force or not training.current_model(settings) else "",
        end="",
        flush=True,
    )
    try:
        model, seconds = training.train(settings, force=args.force)
    except training.TrainingError as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 1
    if seconds is None:
        print(f"model is up to date: {model} (inputs unchanged; --force retrains)")
    else:
        print(f" done in {seconds:.0f} s: {model}")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.chat import chat

    chat(get_settings(), args.sender)
    return 0


def cmd_orders(args: argparse.Namespace) -> int:
    from bot.orders import OrdersDB

    db = OrdersDB(get_settings().orders_db_path)
    if args.orders_command == "reset":
        count = db.reset()
        print(f"orders database {db.path} reset: {count} orders")
    elif args.orders_command == "show":
        order = db.get(args.number.upper())
        if order is None:
            print(f"no order {args.number}", file=sys.stderr)
            return 1
        print(json.dumps(order.__dict__, default=str, indent=2))
    elif args.orders_command == "list":
        for number in db.orders_with_status(args.status):
            print(number)
    return 0


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


def cmd_test(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot import conversation_tests as ct
    from bot import training
    from bot.chat import require_running

    settings = get_settings()
    suites, ok = [], True
    conversations = []
    if not args.no_conversations:
        try:
            conversations = ct.load([Path(p) for p in args.conversations or [ct.CONVERSATIONS_DIR]])
        except ct.ConversationFileError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        conversations = [c for c in conversations if not args.only or args.only.lower() in c.name.lower()]
        require_running(settings)
    if not args.no_stories:
        model = training.current_model(settings)
        if model is None:
            print("error: no model for the current data: run `tandem train`", file=sys.stderr)
            return 2
        print(f"Rasa test stories ({ct.STORIES_DIR})...", flush=True)
        stories = ct.run_stories(settings, model, Path(args.out) / "rasa-stories")
        suites.append(ct.stories_suite(stories))
        ok &= stories.passed
        if not stories.passed:
            print(stories.output)
        print(
            f"stories: {stories.total - len(stories.failed)} passed, {len(stories.failed)} failed ({stories.seconds:.0f} s)"
        )
    if conversations:
        print(f"Conversations against {settings.rasa_url}:", flush=True)
        results = ct.run_all(
            ct.Runner(settings),
            conversations,
            progress=lambda r: print(f"  {'PASS' if r.passed else 'FAIL'} {r.conversation.name}", flush=True),
        )
        suites.append(ct.junit_suite(results))
        ok &= all(r.passed for r in results)
        print(ct.summary(results))
    junit_path = Path(args.junit or Path(args.out) / "tandem-test.xml")
    junit_path.parent.mkdir(parents=True, exist_ok=True)
    junit_path.write_text(ct.junit(suites))
    print(f"JUnit XML: {junit_path}")
    return 0 if ok else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from bot import bench

    bench.main(turns=args.turns, concurrency=args.concurrency, fresh_setup=args.fresh_setup)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tandem", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("up", help="start Redis, the action server and Rasa; wait until each is healthy")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop what `tandem up` started")
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("status", help="report each component, its URL and the model (exit 3 if not all up)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("train", help="train the Rasa model if config, domain or data changed")
    p.add_argument("--force", action="store_true", help="train even if the model is up to date")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("chat", help="chat with the running assistant in the terminal (REST channel)")
    p.add_argument("--sender", help="conversation id (default: a new one); reuse one to continue")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser(
        "test",
        help="run Rasa's test stories and the end-to-end conversations against the running stack",
        description="Runs `rasa test core` on tests/stories/ and the YAML conversations of "
        "tests/conversations/ (format: bot/conversation_tests.py) against the running assistant "
        "(`tandem up`); prints a summary and writes JUnit XML. Conversations that edit a knowledge "
        "document undo the edit afterwards. Exit code 1 when anything failed.",
    )
    p.add_argument(
        "conversations", nargs="*", help="conversation files or folders (default tests/conversations)"
    )
    p.add_argument("--only", help="run only conversations whose name contains this text")
    p.add_argument("--junit", help="JUnit XML file (default OUT/tandem-test.xml)")
    p.add_argument("--out", default="results", help="folder for reports (default results/)")
    p.add_argument("--no-stories", action="store_true", help="skip Rasa's test stories")
    p.add_argument("--no-conversations", action="store_true", help="skip the conversations")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("orders", help="the sample store's orders database")
    osub = p.add_subparsers(dest="orders_command", required=True, metavar="ACTION")
    osub.add_parser("reset", help="rebuild the database from bot/brand/orders.json (dates relative to today)")
    q = osub.add_parser("show", help="print one order")
    q.add_argument("number", help="order number, e.g. BB-100001")
    q = osub.add_parser("list", help="list order numbers with a status")
    q.add_argument(
        "--status",
        required=True,
        choices=ORDER_STATUSES,
    )
    p.set_defaults(func=cmd_orders)

    p = sub.add_parser("handoff", help="conversations handed over to a human agent")
    hsub = p.add_subparsers(dest="handoff_command", required=True, metavar="ACTION")
    hsub.add_parser("list", help="conversations waiting for an agent")
    q = hsub.add_parser("back", help="hand a conversation back to the assistant")
    q.add_argument("sender", help="the conversation (sender) id")
    p.set_defaults(func=cmd_handoff)

    from knowledge.commands import add_parser as add_kb_parser

    add_kb_parser(sub)

    p = sub.add_parser("bench", help="benchmarks; results are written under docs/benchmarks/")
    bsub = p.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    q = bsub.add_parser("stack", help="Rasa training, start-up, REST turn latency (1 and N clients)")
    q.add_argument("--turns", type=int, default=240, help="turns per measurement (default 240)")
    q.add_argument("--concurrency", type=int, default=20, help="concurrent conversations (default 20)")
    q.add_argument(
        "--fresh-setup", action="store_true", help="also time `make setup` in a fresh clone (minutes)"
    )
    p.set_defaults(func=cmd_bench)
    from knowledge.bench_cli import add_parser as add_retrieval_bench
    from knowledge.bench_ingest import add_parser as add_ingest_bench

    add_retrieval_bench(bsub)
    add_ingest_bench(bsub)
    from bot.bench_answers import add_parser as add_answers_bench

    add_answers_bench(bsub)
    from adapters.bench import add_parser as add_adapter_bench

    add_adapter_bench(bsub)
    from bot.bench_gate import add_parser as add_gate_bench

    add_gate_bench(bsub)
    from adapters.commands import add_parser as add_adapter_parser
    from bot.calibrate import add_parser as add_gate_parser

    add_adapter_parser(sub)

    add_gate_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
