"""End-to-end conversation tests: YAML conversations run against a running stack.

A file holds ``conversations:``, each a ``name`` and ``steps``. A step is one of:

    - user: "where is my order?"          # a message, as a customer types it
      expect: {...}                        # what the bot's turn must show (all optional)
    - click: "Track an order"              # press a button the last turn offered
      expect: {...}
    - edit: {document: policies/gift-cards.md, replace: "five years", with: "three years"}
                                           # edit a knowledge document and refresh the
                                           # knowledge base (undone after the conversation)

Expectations of a turn (every one optional; text checks ignore case):

    route: knowledge            # flow | knowledge | clarify | handoff | out_of_scope
    intent: track_order         # what NLU read (from the tracker)
    slots: {order_number: BB-100001}   # these slots have these values (null: unset)
    active_form: cancel_order_form     # or null
    text_contains: "order number"      # or a list: every one must appear in the turn
    text_not_contains: ["sorry"]
    cites: policies/gift-cards.md      # or a list: citations include these documents
    buttons: ["Yes, cancel it"]        # these buttons are offered
    handoff: true                       # the conversation is (or is not) with a person

The route of a turn is the one in the bot's ``custom`` payload; a turn without one was
handled by a scripted flow (route ``flow``), and a handoff is route ``handoff``.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from bot.core.settings import ROOT, Settings
from bot.stack import client
from bot.stack.client import send
from bot.stack.client import tracker as fetch_tracker

EXPECTATIONS = {
    "route",
    "intent",
    "slots",
    "active_form",
    "text_contains",
    "text_not_contains",
    "cites",
    "buttons",
    "handoff",
}
STEP_KINDS = ("user", "click", "edit")


class ConversationFileError(ValueError):
    """A conversation file that cannot be run; the message names the file and the place."""


@dataclass
class Step:
    kind: str  # user | click | edit
    value: Any
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass
class Conversation:
    name: str
    file: str
    steps: list[Step]
    tags: list[str] = field(default_factory=list)  # what it exercises (benchmarks count by tag)


@dataclass
class Turn:
    said: str
    messages: list[dict]
    route: str
    intent: str | None
    slots: dict[str, Any]
    active_form: str | None
    paused: bool

    @property
    def text(self) -> str:
        return "\n".join(m["text"] for m in self.messages if m.get("text"))

    @property
    def citations(self) -> list[dict]:
        return [c for m in self.messages for c in (m.get("custom") or {}).get("citations", [])]

    @property
    def buttons(self) -> list[dict]:
        return [b for m in self.messages for b in m.get("buttons") or []]

    def lines(self) -> list[str]:
        out = [f"  you: {self.said}"]
        for message in self.messages:
            if message.get("text"):
                out.append(f"  bot: {message['text']}")
            if message.get("buttons"):
                out.append("       buttons: " + " | ".join(b.get("title", "") for b in message["buttons"]))
        sources = ", ".join(c.get("source", "") for c in self.citations)
        out.append(
            f"       [route={self.route} intent={self.intent} form={self.active_form}"
            + (f" cites={sources}" if sources else "")
            + (" handoff" if self.paused else "")
            + "]"
        )
        return out


@dataclass
class Result:
    conversation: Conversation
    failures: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)
    seconds: float = 0.0
    turns: list[bool] = field(default_factory=list)  # each bot turn: every expectation met
    turn_seconds: list[float] = field(default_factory=list)  # each message's round trip

    @property
    def passed(self) -> bool:
        return not self.failures


# ---- reading ---------------------------------------------------------------------------


def load(paths: list[Path]) -> list[Conversation]:
    """Every conversation in these files (and in the .yml files under these folders)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.yml") if p.is_file())
        elif path.exists():
            files.append(path)
        else:
            raise ConversationFileError(f"{path}: no such file or folder")
    conversations = []
    for file in files:
        conversations += parse(file.read_text(), str(file))
    names = [c.name for c in conversations]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConversationFileError(f"conversation names must be unique; repeated: {', '.join(duplicates)}")
    return conversations


def parse(text: str, file: str = "<text>") -> list[Conversation]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConversationFileError(f"{file}: not valid YAML: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("conversations"), list):
        raise ConversationFileError(f"{file}: expected a top-level `conversations:` list")
    conversations = []
    for index, entry in enumerate(data["conversations"], 1):
        where = f"{file}: conversation {index}"
        if not isinstance(entry, dict) or not entry.get("name") or not isinstance(entry.get("steps"), list):
            raise ConversationFileError(f"{where}: needs a `name` and a list of `steps`")
        where = f"{file}: {entry['name']!r}"
        steps = [_step(raw, f"{where}, step {n}") for n, raw in enumerate(entry["steps"], 1)]
        if not steps:
            raise ConversationFileError(f"{where}: has no steps")
        tags = entry.get("tags") or []
        if not isinstance(tags, list):
            raise ConversationFileError(f"{where}: `tags` is a list")
        conversations.append(
            Conversation(name=str(entry["name"]), file=file, steps=steps, tags=[str(t) for t in tags])
        )
    return conversations


def _step(raw: Any, where: str) -> Step:
    if not isinstance(raw, dict):
        raise ConversationFileError(f"{where}: a step is a mapping (user:, click: or edit:)")
    kinds = [k for k in STEP_KINDS if k in raw]
    if len(kinds) != 1:
        raise ConversationFileError(f"{where}: give exactly one of {', '.join(STEP_KINDS)}")
    unknown = set(raw) - {kinds[0], "expect"}
    if unknown:
        raise ConversationFileError(f"{where}: unknown keys {sorted(unknown)}")
    expect = raw.get("expect") or {}
    if not isinstance(expect, dict) or set(expect) - EXPECTATIONS:
        bad = sorted(set(expect) - EXPECTATIONS) if isinstance(expect, dict) else expect
        raise ConversationFileError(
            f"{where}: unknown expectation {bad}; known: {', '.join(sorted(EXPECTATIONS))}"
        )
    if kinds[0] == "edit":
        edit = raw["edit"]
        if not isinstance(edit, dict) or not {"document", "replace", "with"} <= set(edit):
            raise ConversationFileError(f"{where}: edit needs document, replace and with")
        if expect:
            raise ConversationFileError(f"{where}: an edit step has no bot turn to expect things of")
    return Step(kind=kinds[0], value=raw[kinds[0]], expect=expect)


# ---- checking --------------------------------------------------------------------------


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def check(turn: Turn, expect: dict[str, Any]) -> list[str]:
    """What differs between the turn and the expectations (empty: all met)."""
    problems = []
    if "route" in expect and turn.route != expect["route"]:
        problems.append(f"route: expected {expect['route']}, got {turn.route}")
    if "intent" in expect and turn.intent != expect["intent"]:
        problems.append(f"intent: expected {expect['intent']}, got {turn.intent}")
    for slot, value in (expect.get("slots") or {}).items():
        got = turn.slots.get(slot)
        if (got if got is None else str(got)) != (value if value is None else str(value)):
            problems.append(f"slot {slot}: expected {value!r}, got {got!r}")
    if "active_form" in expect and turn.active_form != expect["active_form"]:
        problems.append(f"active form: expected {expect['active_form']}, got {turn.active_form}")
    text = turn.text.lower()
    for part in _as_list(expect["text_contains"]) if "text_contains" in expect else []:
        if part.lower() not in text:
            problems.append(f"text does not contain {part!r}")
    for part in _as_list(expect["text_not_contains"]) if "text_not_contains" in expect else []:
        if part.lower() in text:
            problems.append(f"text contains {part!r}")
    cited = {c.get("source") for c in turn.citations}
    for source in _as_list(expect["cites"]) if "cites" in expect else []:
        if source not in cited:
            problems.append(f"cites: expected {source}, got {sorted(s for s in cited if s) or 'none'}")
    offered = [b.get("title") for b in turn.buttons]
    for title in _as_list(expect["buttons"]) if "buttons" in expect else []:
        if title not in offered:
            problems.append(f"buttons: expected {title!r}, got {offered or 'none'}")
    if "handoff" in expect and turn.paused != bool(expect["handoff"]):
        problems.append(f"handoff: expected {bool(expect['handoff'])}, got {turn.paused}")
    return problems


def route_of(messages: list[dict]) -> str:
    route = "flow"
    for message in messages:
        custom = message.get("custom")
        if isinstance(custom, dict):
            if custom.get("handoff"):
                return "handoff"
            route = custom.get("route") or route
    return route


# ---- running ---------------------------------------------------------------------------


class Runner:
    """Runs conversations against the stack at `settings` (REST channel and tracker API)."""

    def __init__(self, settings: Settings, sources: Path | None = None) -> None:
        self.settings = settings
        # the knowledge base's documents (knowledge/config.py reads the same variable)
        self.sources = sources or Path(os.environ.get("TANDEM_KB_SOURCES") or settings.brand.sources)

    def say(self, sender: str, text: str, shown: str | None = None) -> Turn:
        messages = send(self.settings, sender, text)
        tracker = fetch_tracker(self.settings, sender)
        # the last user event, not `latest_message`, which Rasa 3.6 leaves stale after
        # some slot events
        users = [e for e in tracker.get("events") or [] if e.get("event") == "user"]
        parse = (users[-1].get("parse_data") or {}) if users else {}
        return Turn(
            said=shown or text,
            messages=messages,
            route=route_of(messages),
            intent=(parse.get("intent") or {}).get("name"),
            slots=tracker.get("slots") or {},
            active_form=(tracker.get("active_loop") or {}).get("name"),
            paused=bool(tracker.get("paused")),
        )

    def refresh(self) -> dict:
        return client.refresh_knowledge(self.settings)

    def run(self, conversation: Conversation) -> Result:
        result = Result(conversation)
        sender = f"test-{uuid.uuid4().hex[:12]}"
        result.transcript.append(f"  (conversation id {sender})")
        edited: dict[Path, str] = {}
        started = time.monotonic()
        last: Turn | None = None
        try:
            for number, step in enumerate(conversation.steps, 1):
                if step.kind == "edit":
                    result.transcript.append(self._edit(step.value, edited))
                    continue
                sent = time.monotonic()
                if step.kind == "click":
                    offered = {b.get("title"): b.get("payload") for b in (last.buttons if last else [])}
                    if step.value not in offered:
                        result.failures.append(
                            f"step {number}: no button {step.value!r} to click; offered: {list(offered) or 'none'}"
                        )
                        break
                    last = self.say(sender, offered[step.value], shown=f"[clicks {step.value}]")
                else:
                    last = self.say(sender, str(step.value))
                result.turn_seconds.append(time.monotonic() - sent)
                result.transcript += last.lines()
                problems = check(last, step.expect)
                result.turns.append(not problems)
                result.failures += [f"step {number} ({last.said!r}): {p}" for p in problems]
        except ConversationFileError as error:
            result.failures.append(str(error))
        except (requests.RequestException, OSError) as error:
            result.failures.append(f"the stack failed: {error}")
        finally:
            if edited:
                for path, text in edited.items():
                    path.write_text(text)
                try:
                    self.refresh()
                except requests.RequestException as error:
                    result.failures.append(f"could not refresh after undoing the edits: {error}")
        result.seconds = time.monotonic() - started
        # steps never reached (a missing button, the stack failing) are turns gone wrong
        answered = sum(step.kind != "edit" for step in conversation.steps)
        result.turns += [False] * (answered - len(result.turns))
        return result

    def _edit(self, edit: dict, edited: dict[Path, str]) -> str:
        path = (self.sources / edit["document"]).resolve()
        if not path.is_relative_to(self.sources.resolve()) or not path.is_file():
            raise ConversationFileError(f"edit: {edit['document']} is not a document under {self.sources}")
        text = path.read_text()
        if edit["replace"] not in text:
            raise ConversationFileError(f"edit: {edit['replace']!r} does not occur in {edit['document']}")
        edited.setdefault(path, text)
        path.write_text(text.replace(edit["replace"], edit["with"]))
        report = self.refresh()
        updated = ", ".join(report.get("updated") or []) or "nothing"
        return f"  (edited {edit['document']}: {edit['replace']!r} -> {edit['with']!r}; refresh updated {updated})"


# ---- reporting -------------------------------------------------------------------------


def summary(results: list[Result]) -> str:
    lines = []
    for result in results:
        status = "PASS" if result.passed else "FAIL"
        lines.append(
            f"{status} {result.conversation.name}  ({result.seconds:.1f} s, {result.conversation.file})"
        )
        if not result.passed:
            lines += [f"     - {failure}" for failure in result.failures]
            lines.append("     the whole conversation:")
            lines += [f"     {line}" for line in result.transcript]
    passed = sum(r.passed for r in results)
    lines.append(f"conversations: {passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)


def junit_suite(results: list[Result], suite: str = "conversations") -> ET.Element:
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(sum(not r.passed for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            root,
            "testcase",
            classname=f"{suite}.{Path(result.conversation.file).stem}",
            name=result.conversation.name,
            time=f"{result.seconds:.3f}",
        )
        if not result.passed:
            failure = ET.SubElement(case, "failure", message="; ".join(result.failures)[:1000])
            failure.text = "\n".join(result.failures + ["", "the whole conversation:", *result.transcript])
        else:
            ET.SubElement(case, "system-out").text = "\n".join(result.transcript)
    return root


def junit(suites: list[ET.Element]) -> str:
    """One JUnit XML document of these test suites."""
    root = ET.Element("testsuites")
    root.extend(suites)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def run_all(
    runner: Runner, conversations: list[Conversation], progress: Callable[[Result], None] | None = None
) -> list[Result]:
    results = []
    for conversation in conversations:
        result = runner.run(conversation)
        results.append(result)
        if progress:
            progress(result)
    return results


# ---- Rasa's test stories ---------------------------------------------------------------


@dataclass
class StoriesResult:
    total: int
    failed: list[str]
    seconds: float
    output: str  # Rasa's output, for when it fails
    names: list[str] = field(default_factory=list)  # every story run

    @property
    def passed(self) -> bool:
        return not self.failed


def story_names(folder: Path) -> list[str]:
    names = []
    for file in sorted(folder.glob("*.yml")):
        names += [s["story"] for s in (yaml.safe_load(file.read_text()) or {}).get("stories", [])]
    return names


def run_stories(settings: Settings, model: Path, out: Path, folder: Path | None = None) -> StoriesResult:
    """`rasa test core --fail-on-prediction-errors` on the test stories (the brand's
    tests/stories/ unless `folder` is given), with the model."""
    folder = folder or settings.brand.stories_dir
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    env = {"PATH": "/usr/bin:/bin", "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [str(settings.rasa_venv / "bin" / "rasa"), "test", "core", "--stories", str(folder)]
    command += ["--model", str(model), "--fail-on-prediction-errors", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    names = story_names(folder)
    failed_file = out / "failed_test_stories.yml"
    failed = []
    if failed_file.exists():
        failed = [
            s.get("story", "?") for s in (yaml.safe_load(failed_file.read_text()) or {}).get("stories", [])
        ]
    if done.returncode != 0 and not failed:
        failed = ["(rasa test core failed before judging the stories)"]
    output = (
        (failed_file.read_text() if failed_file.exists() else "") + done.stdout[-3000:] + done.stderr[-3000:]
    )
    return StoriesResult(
        total=len(names), failed=failed, seconds=time.monotonic() - started, output=output, names=names
    )


def stories_suite(result: StoriesResult) -> ET.Element:
    suite = ET.Element(
        "testsuite", name="rasa-stories", tests=str(result.total), failures=str(len(result.failed))
    )
    suite.set("time", f"{result.seconds:.3f}")
    failed = set(result.failed)
    for name in result.names or ["stories"]:
        case = ET.SubElement(suite, "testcase", classname="rasa-stories", name=name)
        if name in failed:
            ET.SubElement(case, "failure", message="prediction error").text = result.output
    for name in sorted(failed - set(result.names)):
        ET.SubElement(
            ET.SubElement(suite, "testcase", classname="rasa-stories", name=name), "failure"
        ).text = result.output
    return suite
