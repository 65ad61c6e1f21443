"""`tandem up | down | status | train | chat`: run the assistant and talk to it."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from dataclasses import replace

import requests

from bot.core.settings import Settings, get_settings
from bot.stack import processes, training
from bot.stack.client import render, send


def cmd_up(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.replicas is not None:
        if args.replicas < 1:
            print("error: --replicas needs a positive count", file=sys.stderr)
            return 2
        settings = replace(settings, rasa_replicas=args.replicas)
        processes.private_folder(settings.home)
        processes.private_folder(settings.run_dir)
        settings.replicas_file.write_text(f"{args.replicas}\n")  # `down` and `status` follow it
    started = time.monotonic()
    print(f"Starting the assistant of brand {settings.brand.name}:")
    try:
        processes.up(settings)
    except processes.StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Ready in {time.monotonic() - started:.1f} s. Logs: {settings.logs_dir}")
    if getattr(args, "warm", False):
        print("  waiting for the voice model and the rephrased responses ...", flush=True)
        try:
            print(f"  warm after {processes.wait_until_warm(settings):.1f} s more")
        except processes.StackError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    else:
        print("  the voice model loads in the background (`tandem up --warm` waits for it)")
    print("  chat in the terminal:  tandem chat")
    print(f"  REST:                  POST {settings.rasa_url}/webhooks/rest/webhook")
    print(f"  socket.io:             {settings.rasa_url}/socket.io")
    print(f"  web widget demo:       {settings.actions_url}/demo/")
    token = "$TANDEM_AGENT_TOKEN" if os.environ.get("TANDEM_AGENT_TOKEN") else settings.home / "agent-token"
    _ = settings.agent_token  # made now, so the file named exists
    print(f"  agents' console:       {settings.actions_url}/agent/ (token: {token})")
    print("  stop everything:       tandem down")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    stopped = processes.down(get_settings())
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    settings = get_settings()
    rows = processes.status(settings)
    model = training.current_model(settings)
    if args.json:
        report = {"brand": settings.brand.name, "components": rows, "model": str(model) if model else None}
        print(json.dumps(report, indent=2))
    else:
        for row in rows:
            pid = f"pid {row['pid']}" if row["pid"] else ""
            print(f"{row['name']:8} {row['state']:22} {row['url']:40} {pid}")
        print(f"brand    {settings.brand.name} ({settings.brand.root})")
        print(f"model    {'up to date: ' + model.name if model else 'stale or missing (run `tandem train`)'}")
        print(f"logs     {settings.logs_dir}")
    return 0 if all(r["state"] == "up" for r in rows) else 3


def cmd_train(args: argparse.Namespace) -> int:
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


def chat(settings: Settings, sender: str | None = None) -> None:
    """Chat in the terminal over the REST channel; a number presses a button."""
    sender = sender or f"cli-{uuid.uuid4().hex[:8]}"
    print(
        f"Chatting as {sender!r} with {settings.rasa_url}. Type a number to press a button; /quit or Ctrl-D ends."
    )
    buttons: list[dict] = []
    while True:
        try:
            text = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if text in ("/quit", "/exit"):
            return
        if not text:
            continue
        if text.isdigit() and 1 <= int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        try:
            messages = send(settings, sender, text)
        except requests.RequestException as error:
            print(
                f"(cannot reach the assistant at {settings.rasa_url}: {error}; is it running? `tandem status`)"
            )
            continue
        output, buttons = render(messages)
        print(output or "(no reply: the conversation is with a human agent)")


def cmd_chat(args: argparse.Namespace) -> int:
    chat(get_settings(), args.sender)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("up", help="start Redis, the action server and Rasa; wait until each is healthy")
    p.add_argument(
        "--replicas",
        type=int,
        metavar="N",
        help="N Rasa servers behind HAProxy on the Rasa port (default: as last time, else 1); "
        "each runs $TANDEM_RASA_WORKERS workers (default 2)",
    )
    p.add_argument(
        "--warm",
        action="store_true",
        help="also wait until the voice model is loaded and the marked responses are rephrased "
        "(the stack answers before, with responses as written and quoted answers); for benchmarks",
    )
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop what `tandem up` started")
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("status", help="report each component, its URL and the model (exit 3 if not all up)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("train", help="train the brand's Rasa model if its config, domain or data changed")
    p.add_argument("--force", action="store_true", help="train even if the model is up to date")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("chat", help="chat with the running assistant in the terminal (REST channel)")
    p.add_argument("--sender", help="conversation id (default: a new one); reuse one to continue")
    p.set_defaults(func=cmd_chat)
