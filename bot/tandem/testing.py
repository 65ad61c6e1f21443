"""`tandem test`: the brand's Rasa test stories, then its end-to-end conversations against
the running assistant (format: bot/stack/conversation_tests.py); a summary and JUnit XML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.core.settings import get_settings
from bot.stack import conversation_tests as ct
from bot.stack import training
from bot.stack.client import require_running


def cmd_test(args: argparse.Namespace) -> int:
    settings = get_settings()
    brand = settings.brand
    suites, ok = [], True
    conversations = []
    if not args.no_conversations:
        try:
            conversations = ct.load([Path(p) for p in args.conversations or [brand.conversations_dir]])
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
        print(f"Rasa test stories ({brand.stories_dir})...", flush=True)
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


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "test",
        help="run the brand's Rasa test stories and end-to-end conversations against the running stack",
        description="Runs `rasa test core` on the brand's tests/stories/ and the YAML conversations of "
        "its tests/conversations/ (format: bot/stack/conversation_tests.py) against the running "
        "assistant (`tandem up`); prints a summary and writes JUnit XML. Conversations that edit a "
        "knowledge document undo the edit afterwards. Exit code 1 when anything failed.",
    )
    p.add_argument(
        "conversations",
        nargs="*",
        help="conversation files or folders (default: the brand's tests/conversations)",
    )
    p.add_argument("--only", help="run only conversations whose name contains this text")
    p.add_argument("--junit", help="JUnit XML file (default OUT/tandem-test.xml)")
    p.add_argument("--out", default="results", help="folder for reports (default results/)")
    p.add_argument("--no-stories", action="store_true", help="skip Rasa's test stories")
    p.add_argument("--no-conversations", action="store_true", help="skip the conversations")
    p.set_defaults(func=cmd_test)
