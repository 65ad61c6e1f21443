"""A seeded run of simulated conversations, and the dashboard's figures checked against it.

    tandem bench console [--conversations 300] [--seed 16] [--save] [--screenshots docs/console]

It starts the sample brand's stack of its own (its own state folder and event database: a
running `tandem up` is not touched), builds the knowledge base, and plays a fixed mix of
conversations, drawn with the seed: order tracking to the end, questions from the brand's
QA set, questions mid-form, out-of-scope questions, complaints and requests for a person,
turns the bot cannot read (a handoff after failures), and a planted knowledge gap: ten
paraphrases of one question no document answers (a loyalty programme). Conversations
that rate an answer (thumbs up or down, as the widget does) run over socket.io, the
others over REST.

The bench keeps its own record of what happened (each turn's route from the replies, the
handoffs and their reasons, the ratings it sent) and compares it with what the console's
analytics read from Rasa's event broker: conversations, route mix, containment, handoff
reasons, feedback per route. It then clusters the declined, clarified and thumbs-down
questions and reports whether the planted gap comes out on top.

With --save it writes docs/benchmarks/console.md and console.json; with --screenshots DIR,
screenshots of the dashboard and of the inbox (a claimed conversation with an agent's
reply) in a real browser (Chromium).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bot.bench.load import orders_of, stack_settings
from bot.bench.report import provenance, publish
from bot.console import analytics
from bot.core.settings import Settings
from bot.stack import client, processes, training

PLANTED = [
    "do you have a loyalty program?",
    "can I earn reward points on my purchases?",
    "is there a rewards scheme for regular customers?",
    "do you offer a membership with perks?",
    "how do I join your loyalty club?",
    "do I get points when I shop with you?",
    "any loyalty card or points system?",
    "do regular customers get rewards?",
    "is there a VIP program for frequent shoppers?",
    "can I collect points and redeem them for discounts?",
]
OUT_OF_SCOPE = [
    "what's the weather like in paris tomorrow?",
    "can you recommend a good movie?",
    "who won the football last night",
    "write me a poem about cats",
    "what is the capital of australia",
    "how do I cook risotto",
    "can you help with my maths homework",
    "what's the meaning of life",
    "tell me a joke about lawyers",
    "how tall is mount everest",
    "book me a flight to rome",
    "what time is it in tokyo",
    "do you know any good restaurants nearby",
    "how do I fix my car's brakes",
    "what stocks should I buy",
    "translate hello into japanese",
    "who is the president of france",
    "how many calories in a banana",
    "can you order me a pizza",
    "what's a good name for a dog",
]
UNREADABLE = [
    "hmm the thing",
    "it doesnt do the",
    "???",
    "no the other one the blue",
    "ugh",
    "wat",
    "thing broke again same as before",
    "nope",
    "kjhg",
    "i dunno",
    "the one from before",
    "asdfgh",
    "whatever",
    "ok but the",
    "so",
    "mmm",
    "er what",
    "blah",
    "that one",
    "idk anymore",
]
HANDOFF_ASKS = [
    "I want to talk to a person",
    "can I speak to a human",
    "get me an agent please",
    "real person please",
]
COMPLAINTS = [
    "I want to make a complaint",
    "I'm very unhappy with your service",
    "I want to file a complaint",
]
COMMENTS = ["not what I asked", "too vague", "that's wrong", ""]
# how many conversations of each kind in a run of 300 (scaled for other sizes); the
# planted gap is always its ten paraphrases
MIX = {
    "track": 85,
    "knowledge": 95,
    "mid_form": 10,
    "decline": 40,
    "handoff": 30,
    "complaint": 10,
    "failed": 20,
}


@dataclass
class Played:
    """What the bench saw of one conversation."""

    sender: str
    kind: str
    routes: list[str] = field(default_factory=list)  # each user turn's route, from the replies
    handoff: str | None = None  # the reason, when the conversation was handed over
    ratings: list[tuple[str, str]] = field(default_factory=list)  # (route of the rated turn, up|down)


def turn_route(messages: list[dict]) -> str:
    """A turn's route as the replies show it: the gate's route; a handoff without one; a
    scripted reply (a form's question) "flow"; nothing said "none"."""
    customs = [m.get("custom") if "custom" in m else m for m in messages]
    for custom in customs:
        if isinstance(custom, dict) and custom.get("route"):
            return custom["route"]
    if any(isinstance(c, dict) and c.get("handoff") for c in customs):
        return "handoff"
    return "flow" if any(m.get("text") for m in messages) else "none"


def handoff_reason(messages: list[dict]) -> str | None:
    for message in messages:
        custom = message.get("custom") if "custom" in message else message
        if isinstance(custom, dict) and custom.get("handoff"):
            return custom.get("reason") or "requested"
    return None


def plan(
    count: int, seed: int, qa: list[str], orders: list[list[str]]
) -> list[tuple[str, list[str], str | None]]:
    """The run: (kind, messages, rating) per conversation. rating: "up", "down", "down-if-answered"
    (the planted gap: a knowledge answer to it gets a thumbs down) or None."""
    rng = random.Random(seed)
    scale = (count - len(PLANTED)) / sum(MIX.values())
    sizes = {kind: round(size * scale) for kind, size in MIX.items()}
    sizes["knowledge"] += count - len(PLANTED) - sum(sizes.values())
    conversations: list[tuple[str, list[str], str | None]] = []
    for kind, size in sizes.items():
        for index in range(size):
            rating = None
            if kind == "track":
                number, email = rng.choice(orders)
                messages = ["where is my order", number, email] + (["thanks!"] if rng.random() < 0.5 else [])
            elif kind == "knowledge":
                messages = rng.sample(qa, 2 if rng.random() < 0.3 else 1)
                if index < round(size * 0.55):
                    rating = "up" if rng.random() < 0.7 else "down"
            elif kind == "mid_form":
                messages = ["where is my order", rng.choice(qa), rng.choice(orders)[0]]
            elif kind == "decline":
                messages = [OUT_OF_SCOPE[index % len(OUT_OF_SCOPE)]]
            elif kind == "handoff":
                messages = ([rng.choice(qa)] if rng.random() < 0.5 else []) + [rng.choice(HANDOFF_ASKS)]
            elif kind == "complaint":
                messages = [rng.choice(COMPLAINTS), "/contact_human_agent"]
            else:  # failed: unreadable turns until the bot hands over
                first, second = rng.sample(UNREADABLE, 2)
                messages = [first, second]
            conversations.append((kind, messages, rating))
    conversations += [("planted", [question], "down-if-answered") for question in PLANTED]
    rng.shuffle(conversations)
    return conversations


def play_rest(settings: Settings, kind: str, messages: list[str]) -> Played:
    played = Played(f"bench-{uuid.uuid4().hex[:10]}", kind)
    for text in messages:
        replies = client.send(settings, played.sender, text)
        played.routes.append(turn_route(replies))
        played.handoff = played.handoff or handoff_reason(replies)
    return played


def play_socket(
    settings: Settings, kind: str, messages: list[str], rating: str, rng: random.Random
) -> Played:
    with client.SocketClient(settings) as socket:
        played = Played(socket.conversation_id, kind)
        for text in messages:
            replies = socket.say(text)
            route = turn_route(replies)
            played.routes.append(route)
            played.handoff = played.handoff or handoff_reason(replies)
            answer = next((m["text"] for m in reversed(replies) if m.get("text")), None)
            if answer is None or (rating == "down-if-answered" and route != "knowledge"):
                continue
            value = "up" if rating == "up" else "down"
            socket.rate(answer, value, rng.choice(COMMENTS) if value == "down" else "")
            played.ratings.append((route, value))
        time.sleep(0.5)  # the last rating reaches the server before the socket closes
    return played


def play(settings: Settings, conversations, seed: int, workers: int = 4) -> list[Played]:
    def one(item: tuple[int, tuple[str, list[str], str | None]]) -> Played:
        index, (kind, messages, rating) = item
        if rating is None:
            return play_rest(settings, kind, messages)
        return play_socket(settings, kind, messages, rating, random.Random(seed * 1000 + index))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, enumerate(conversations)))


def expected(played: list[Played]) -> dict:
    """The figures the dashboard must show, from the bench's own record."""
    routes = Counter(route for p in played for route in p.routes if route not in ("none",))
    feedback: dict[str, dict[str, int]] = {}
    for p in played:
        for route, value in p.ratings:
            feedback.setdefault(route, {"up": 0, "down": 0})[value] += 1
    handed = [p for p in played if p.handoff]
    return {
        "conversations": len(played),
        "routes": dict(routes),
        "containment": round(1 - len(handed) / len(played), 3),
        "handoff_reasons": dict(Counter(p.handoff for p in handed)),
        "feedback": feedback,
    }


def compare(want: dict, shown: dict) -> dict[str, dict]:
    """Each figure, wanted and shown, and whether they agree."""
    return {
        name: {"sent": value, "dashboard": shown.get(name), "match": value == shown.get(name)}
        for name, value in want.items()
    }


def dashboard_figures(
    settings: Settings, since: float
) -> tuple[analytics.Figures, list[analytics.Gap], float]:
    """What the dashboard shows for the run, read from the event database, with the real
    embedding model and the stack's knowledge base for the gaps; and the seconds it took."""
    from knowledge.config import KnowledgeSettings
    from knowledge.embeddings import load_embedding_model

    model = load_embedding_model(KnowledgeSettings().embedding_model)
    started = time.monotonic()

    def closest(text: str):
        hits = requests.get(
            f"{settings.actions_url}/kb/search",
            params={"q": text, "k": 1, "mode": "dense"},
            headers={"Authorization": f"Bearer {settings.rasa_token}"},
            timeout=30,
        ).json()
        return (hits[0]["metadata"]["source"], hits[0]["score"]) if hits else None

    documents = analytics.document_names(settings.brand.sources)
    numbers, found = analytics.report(
        settings.events_db_url, documents, lambda texts: model.embed_documents(texts), closest, since
    )
    return numbers, found, time.monotonic() - started


def planted_check(found: list[analytics.Gap], played: list[Played]) -> dict:
    """Whether the planted gap is the largest cluster, and how much of it is there."""
    asked = set(PLANTED)
    made_gaps = sum(
        1 for p in played if p.kind == "planted" and (p.routes[0] in analytics.GAP_ROUTES or p.ratings)
    )
    top = found[0] if found else None
    in_top = sum(1 for example in (top.examples if top else []) if example in asked)
    top_is_planted = bool(top) and all(example in asked for example in top.examples)
    return {
        "planted": len(PLANTED),
        "planted_that_made_gaps": made_gaps,
        "top_cluster_size": top.size if top else 0,
        "top_cluster_is_the_planted_gap": top_is_planted,
        "planted_examples_in_top_cluster": in_top,
        "second_cluster_size": found[1].size if len(found) > 1 else 0,
        "top_closest_document": top.closest_document if top else None,
    }


def screenshots(settings: Settings, folder: Path, sender: str) -> list[str]:
    """The dashboard, and the inbox with `sender` claimed and answered, in Chromium."""
    import os

    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("TANDEM_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1360, "height": 860})
        page.goto(f"{settings.actions_url}/agent/login")
        page.fill("input[name=name]", "Sam")
        page.fill("input[name=token]", settings.agent_token)
        page.click("button[type=submit]")
        page.wait_for_selector("#queue li")
        page.click(f'#queue li[data-sender="{sender}"]')
        page.click("#claim")
        page.wait_for_selector("#conv-holder:has-text('held by Sam')")
        page.fill("#reply", "Hi, I'm Sam from the team. I'm looking into this for you now.")
        page.click("#send")
        page.wait_for_selector("#transcript .agent")
        page.wait_for_timeout(500)
        page.screenshot(path=str(folder / "inbox.png"))
        page.goto(f"{settings.actions_url}/agent/dashboard?since=1d")
        page.screenshot(path=str(folder / "dashboard.png"), full_page=True)
        browser.close()
    return [str(folder / "inbox.png"), str(folder / "dashboard.png")]


def measure(count: int, seed: int, shots: Path | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = stack_settings(Path(tmp) / "home", workers=2)
        training.train(settings)
        print("starting a stack of its own ...", flush=True)
        processes.up(settings)
        try:
            client.refresh_knowledge(settings, timeout=900)
            qa = [
                json.loads(line)["question"]
                for line in settings.brand.qa_file.read_text().splitlines()
                if line.strip()
            ]
            conversations = plan(count, seed, qa, orders_of(settings))
            since = time.time() - 1
            print(f"playing {len(conversations)} conversations ...", flush=True)
            started = time.monotonic()
            played = play(settings, conversations, seed)
            played_seconds = time.monotonic() - started
            time.sleep(2)  # the last events reach the database
            numbers, found, seconds = dashboard_figures(settings, since)
            want = expected(played)
            shown = {
                "conversations": numbers.conversations,
                "routes": numbers.routes,
                "containment": numbers.containment,
                "handoff_reasons": numbers.handoff_reasons,
                "feedback": numbers.feedback,
            }
            result = {
                "conversations": len(played),
                "kinds": dict(Counter(p.kind for p in played)),
                "turns": sum(len(p.routes) for p in played),
                "ratings_sent": sum(len(p.ratings) for p in played),
                "played_seconds": round(played_seconds, 1),
                "dashboard_seconds": round(seconds, 1),
                "checks": compare(want, shown),
                "latency_ms": numbers.latency_ms,
                "gaps": [gap.to_dict() for gap in found[:5]],
                "gap_count": len(found),
                "planted": planted_check(found, played),
                "never_cited": numbers.never_cited,
            }
            if shots is not None:
                waiting = next(p.sender for p in played if p.kind == "handoff" and p.handoff)
                result["screenshots"] = screenshots(settings, shots, waiting)
            return result
        finally:
            processes.down(settings)


def render(results: dict) -> str:
    lines = [
        "# Console: a seeded run of simulated conversations, checked on the dashboard",
        "",
        f"`tandem bench console --conversations {results['conversations']} --seed {results['seed']}` "
        f"on {results['machine']}, commit {results['commit']}, {results['date']}.",
        "",
        f"{results['conversations']} conversations ({', '.join(f'{k} {v}' for k, v in results['kinds'].items())}), "
        f"{results['turns']} customer turns, {results['ratings_sent']} ratings, played in "
        f"{results['played_seconds']} s (4 at a time); the dashboard's figures and gaps computed in "
        f"{results['dashboard_seconds']} s.",
        "",
        "| figure | sent (the bench's own record) | dashboard (the event broker) | agree |",
        "|---|---|---|---|",
    ]
    for name, check in results["checks"].items():
        lines.append(
            f"| {name} | `{json.dumps(check['sent'], sort_keys=True)}` | "
            f"`{json.dumps(check['dashboard'], sort_keys=True)}` | {'yes' if check['match'] else '**no**'} |"
        )
    planted = results["planted"]
    lines += [
        "",
        "## The planted knowledge gap",
        "",
        f"Ten paraphrases of a question no document answers (a loyalty programme); "
        f"{planted['planted_that_made_gaps']} were declined, clarified or rated down. "
        f"Largest cluster: {planted['top_cluster_size']} questions; "
        f"it is the planted gap: **{'yes' if planted['top_cluster_is_the_planted_gap'] else 'no'}**; "
        f"the next cluster has {planted['second_cluster_size']}. "
        f"Closest document: {planted['top_closest_document']}.",
        "",
        "| # | questions | routes | closest document | examples |",
        "|---|---|---|---|---|",
    ]
    for rank, gap in enumerate(results["gaps"], 1):
        lines.append(
            f"| {rank} | {gap['size']} | {gap['routes']} | {gap['closest_document']} ({gap['closest_score']}) | "
            + "; ".join(gap["examples"][:3]).replace("|", "/")
            + " |"
        )
    lines += [
        "",
        "p50 / p95 per route (server side, from the events): "
        + ", ".join(f"{r} {v['p50']:g} / {v['p95']:g} ms" for r, v in results["latency_ms"].items())
        + ".",
    ]
    if results.get("screenshots"):
        lines += [
            "",
            "Screenshots: "
            + ", ".join(f"`{Path(p).name}`" for p in results["screenshots"])
            + " in docs/console/.",
        ]
    return "\n".join(lines) + "\n"


def main(count: int, seed: int, save: bool, shots: Path | None) -> dict:
    results = {**provenance(), "seed": seed, **measure(count, seed, shots)}
    publish("console", render(results), results, save)
    return results


def add_parser(bsub: argparse._SubParsersAction) -> None:
    q = bsub.add_parser(
        "console",
        help="a seeded run of simulated conversations; the dashboard's figures checked against it",
    )
    q.add_argument("--conversations", type=int, default=300, help="how many (default 300; at least 50)")
    q.add_argument("--seed", type=int, default=16, help="the draw of the mix (default 16)")
    q.add_argument("--save", action="store_true", help="write docs/benchmarks/console.md and console.json")
    q.add_argument(
        "--screenshots", type=Path, metavar="DIR", help="also screenshot the inbox and the dashboard"
    )
    q.set_defaults(func=cmd_console)


def cmd_console(args: argparse.Namespace) -> int:
    if args.conversations < 50:
        raise SystemExit("--conversations: at least 50 (the mix has ten planted questions)")
    results = main(args.conversations, args.seed, args.save, args.screenshots)
    checks = results["checks"].values()
    return (
        0 if all(c["match"] for c in checks) and results["planted"]["top_cluster_is_the_planted_gap"] else 1
    )
