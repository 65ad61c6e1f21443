"""Multi-turn conversations, scored turn by turn: how often the assistant does the right thing
in conversations typed the way customers type (follow-ups, shorthand, misspellings, topic
switches, questions mid-form, complaints, corrections).

    tandem bench conversations [--file F] [--running] [--save]

The conversations are the brand's ``bench/conversations.yml`` (the format of `tandem test`'s
conversation files, plus ``tags`` per conversation), written from the brand's documents,
not from the bot's answers. Unlike `tandem test`, a miss does not fail anything: each turn
is right when every expectation of its step holds, and the report gives the share of right
turns overall and per tag, each miss with what differed.

By default it starts the brand's stack on free ports with its own state folder (fresh
orders, knowledge base built), so a running `tandem up` is not touched; `--running` uses
the running stack instead (its orders as they are). With --save it writes
docs/benchmarks/conversations.md and conversations.json.

``--file bot/brands/brightbay/bench/conversations_heldout.yml`` runs the held-out set: 25
conversations written without running the bot, kept to check that what is improved on the
first set generalises (saved as conversations-heldout.md). Nothing is tuned on it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bot.bench.load import stack_settings
from bot.bench.report import latency_ms, provenance, publish
from bot.core.settings import ROOT, Settings, get_settings
from bot.stack import client, processes, training
from bot.stack.conversation_tests import Result, Runner, load


def default_file(settings: Settings) -> Path:
    return settings.brand.path("bench/conversations.yml")


def score(results: list[Result]) -> dict:
    turns = [ok for r in results for ok in r.turns]
    tags: dict[str, list[bool]] = defaultdict(list)
    for result in results:
        for tag in result.conversation.tags or ["untagged"]:
            tags[tag] += result.turns
    seconds = [s for r in results for s in r.turn_seconds]
    return {
        "conversations": len(results),
        "conversations_all_right": sum(r.passed for r in results),
        "turns": len(turns),
        "turns_right": sum(turns),
        "share_right": round(sum(turns) / len(turns), 3) if turns else None,
        "by_tag": {
            tag: {"turns": len(oks), "right": sum(oks), "share": round(sum(oks) / len(oks), 3)}
            for tag, oks in sorted(tags.items())
        },
        "latency": latency_ms(seconds),
        "misses": [
            {"conversation": r.conversation.name, "failures": r.failures} for r in results if not r.passed
        ],
    }


def markdown(data: dict) -> str:
    s = data["score"]
    lines = [
        "# Multi-turn conversations, turn by turn",
        "",
        f"`{data['command']}` on {data['provenance']['date']} (commit {data['provenance']['commit']},"
        f" {data['provenance']['machine']}); conversations: `{data['file']}`.",
        "",
        f"**{s['turns_right']} of {s['turns']} turns right ({s['share_right']:.1%})**; "
        f"{s['conversations_all_right']} of {s['conversations']} conversations right from start to end. "
        f"Turn latency over REST: p50 {s['latency']['p50_ms']:.0f} ms, p95 {s['latency']['p95_ms']:.0f} ms.",
        "",
        "| tag | turns | right | share |",
        "|---|---|---|---|",
    ]
    lines += [f"| {tag} | {v['turns']} | {v['right']} | {v['share']:.1%} |" for tag, v in s["by_tag"].items()]
    lines += ["", "## Misses", ""]
    for miss in s["misses"]:
        lines.append(f"- **{miss['conversation']}**")
        lines += [f"  - {failure}" for failure in miss["failures"]]
    return "\n".join(lines) + "\n"


def run(settings: Settings, file: Path, progress: bool = True) -> list[Result]:
    conversations = load([file])
    runner = Runner(settings)
    results = []
    for number, conversation in enumerate(conversations, 1):
        result = runner.run(conversation)
        results.append(result)
        if progress:
            mark = "ok  " if result.passed else "miss"
            print(f"  [{number}/{len(conversations)}] {mark} {conversation.name}", flush=True)
    return results


def main(file: Path | None, running: bool, save: bool, command: str) -> dict:
    if running:
        settings = get_settings()
        client.require_running(settings)
        file = file or default_file(settings)
        results = run(settings, file)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            settings = stack_settings(Path(tmp) / "home", workers=2)
            file = file or default_file(settings)
            load([file])  # a broken file stops before minutes of start-up
            training.train(settings)
            print("starting a stack of its own ...", flush=True)
            processes.up(settings)
            try:
                client.refresh_knowledge(settings, timeout=900)
                started = time.monotonic()
                results = run(settings, file)
                print(f"  {time.monotonic() - started:.0f} s", flush=True)
            finally:
                processes.down(settings)
    shown = file.resolve()
    data = {
        "command": command,
        "file": str(shown.relative_to(ROOT)) if shown.is_relative_to(ROOT) else str(file),
        "provenance": provenance(),
        "score": score(results),
    }
    publish(report_name(file), markdown(data), data, save)
    return data


def report_name(file: Path) -> str:
    """The report a conversation file's results are saved as: conversations.md for the
    brand's benchmark, conversations-heldout.md for conversations_heldout.yml."""
    return file.stem.replace("_", "-")


def add_parser(bsub: argparse._SubParsersAction) -> None:
    q = bsub.add_parser(
        "conversations", help="multi-turn conversations scored turn by turn (follow-ups, shorthand, ...)"
    )
    q.add_argument(
        "--file", type=Path, help="conversation file (default: the brand's bench/conversations.yml)"
    )
    q.add_argument("--running", action="store_true", help="use the running stack instead of one of its own")
    q.add_argument(
        "--save",
        action="store_true",
        help="write docs/benchmarks/<the file's name>.md and .json (conversations.md by default)",
    )
    q.set_defaults(func=cmd_conversations)


def cmd_conversations(args: argparse.Namespace) -> int:
    command = "tandem bench conversations" + (f" --file {args.file}" if args.file else "")
    command += " --running" if args.running else ""
    if args.file is not None and not args.file.is_file():
        raise SystemExit(f"error: {args.file}: no such file")
    main(args.file, args.running, args.save, command)
    return 0
