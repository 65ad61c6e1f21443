"""One customer at a time: what a scripted turn costs, against a stock `rasa init` bot measured
side by side, and where the time goes.

    tandem bench cost [--conversations 60] [--profile-conversations 30] [--save]

It starts the sample brand's stack on free ports (its own state folder, as `tandem up` runs it:
Redis tracker and lock store, the action server for forms and responses, the event broker),
and beside it the bot `rasa init` makes, with Rasa's own Redis tracker store and lock store
on the same Redis server (other databases) and nothing else changed. Conversations alternate
between the two, one customer at a time, so both see the same machine at the same moment:

- this project: hello / where is my order? / an order number / its email / thanks (a form
  with two validated slots, the order looked up, small talk around it);
- stock: hello / I am sad / yes / bye (moodbot's sad path).

Every turn must get a non-empty reply. Reported: p50 and p95 of a turn over REST for each,
and their ratio (the target is 1.2 or less).

Then the profile: py-spy samples the Rasa processes (and this project's action server) while
more conversations run, and each sample is put in the innermost part of a turn it is in
(NLU, policies, custom actions, responses, tracker load and save, event broker, lock store,
web server and channel): CPU milliseconds per turn, per part, for both bots. The stock
`rasa init` project is made once (`rasa init --no-prompt`, which trains it, a few minutes) and
kept under $TANDEM_HOME/bench/.

With --save: docs/benchmarks/cost.md and cost.json.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import requests
import yaml

from bot.bench.faults import component
from bot.bench.load import orders_of, stack_settings
from bot.bench.report import latency_ms, provenance, publish
from bot.bench.stack import free_port
from bot.core.settings import ROOT, Settings
from bot.stack import processes, training

STOCK_SCRIPT = ["hello", "I am sad", "yes", "bye"]
RASA_VERSION = "3.6.21"

# Each sample goes to the innermost of these it is in (function, a piece of its file's path).
PARTS = [
    ("event broker", "publish", "broker"),
    ("event broker", "_write_forever", "event_broker.py"),  # its writer thread
    ("lock store", None, "lock_store.py"),
    ("tracker load", "retrieve", "tracker_store.py"),
    ("tracker save", "save", "tracker_store.py"),
    ("responses (NLG)", "generate", "rasa/core/nlg/"),
    ("custom actions (action server)", "run", "rasa/core/actions/action.py"),
    ("NLU", "parse_message", "rasa/core/processor.py"),
    ("policies", "_predict_next_with_tracker", "rasa/core/processor.py"),
    ("rest of the turn", "handle_message", "rasa/core/agent.py"),
]
OTHER = "web server, channel, other"
# Leaves where a thread waits in C (an event loop's poll, a lock, a sleep, an idle pool
# thread): py-spy cannot always tell these from work, so they are not counted.
IDLE_LEAVES = [
    ("serve", "sanic/server/runners.py"),
    ("_run_server_forever", "sanic/server/runners.py"),
    ("wait", "threading.py"),
    ("_worker", "concurrent/futures/thread.py"),
    ("_sweep_forever", "actions/server.py"),
    ("select", "selectors.py"),
]


def idle(leaf: str) -> bool:
    function, _, where = leaf.partition(" (")
    return any(function.endswith(name) and path in where for name, path in IDLE_LEAVES)


def our_script(settings: Settings) -> list[str]:
    number, email = orders_of(settings)[0]
    return ["hello", "where is my order?", number, email, "thanks"]


def stock_project(settings: Settings) -> Path:
    """The project `rasa init --no-prompt` makes (and trains), made once and kept."""
    folder = Settings().home / "bench" / f"stock-rasa-{RASA_VERSION}"
    if list((folder / "models").glob("*.tar.gz")):
        return folder
    shutil.rmtree(folder, ignore_errors=True)  # what an interrupted `rasa init` left
    folder.mkdir(parents=True)
    print(f"making the stock bot: rasa init --no-prompt in {folder} (trains it: minutes) ...", flush=True)
    with open(folder.parent / "stock-rasa-init.log", "w") as log:
        subprocess.run(
            [str(settings.rasa_venv / "bin" / "rasa"), "init", "--no-prompt", "--init-dir", str(folder)],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    return folder


def stock_endpoints(folder: Path, settings: Settings) -> Path:
    """Rasa's own Redis tracker and lock store, on the stack's Redis (databases 2 and 3)."""
    redis = {"url": settings.host, "port": settings.redis_port, "password": settings.redis_password}
    path = folder / "endpoints-bench.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "tracker_store": {"type": "redis", **redis, "db": 2},
                "lock_store": {"type": "redis", **redis, "db": 3},
            }
        )
    )
    path.chmod(0o600)  # it holds the Redis password
    return path


def start_stock(folder: Path, settings: Settings, port: int, log: Path) -> subprocess.Popen:
    rasa = settings.rasa_venv / "bin" / "rasa"
    command = [
        str(rasa),
        "run",
        "--model",
        str(folder / "models"),
        "--endpoints",
        str(stock_endpoints(folder, settings)),
        "--credentials",
        str(folder / "credentials.yml"),
        "--port",
        str(port),
        "--interface",
        settings.host,
    ]
    with open(log, "w") as out:
        server = subprocess.Popen(command, cwd=folder, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the stock bot stopped at start; its log: {log}")
        try:
            if requests.get(f"http://{settings.host}:{port}/", timeout=2).ok:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.5)
    server.kill()
    raise RuntimeError(f"the stock bot did not start in 180 s; its log: {log}")


def converse(session: requests.Session, url: str, script: list[str]) -> list[float]:
    """One conversation; the seconds of each turn. A turn without a reply is an error."""
    sender = f"cost-{uuid.uuid4().hex[:10]}"
    seconds = []
    for text in script:
        started = time.perf_counter()
        reply = session.post(
            f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60
        )
        seconds.append(time.perf_counter() - started)
        reply.raise_for_status()
        if not any(message.get("text") for message in reply.json()):
            raise RuntimeError(f"{url}: no reply to {text!r}")
    return seconds


def part_of(stack: list[str]) -> str:
    """The innermost part of a turn a sampled stack (root first) is in."""
    for frame in reversed(stack):
        function, _, where = frame.partition(" (")
        for part, name, path in PARTS:
            if path in where and (name is None or function == name):
                return part
    return OTHER


def read_profile(path: Path) -> tuple[Counter, Counter]:
    """py-spy's raw output: samples per part of a turn, and inclusive samples per function
    of the project and of Rasa."""
    parts: Counter = Counter()
    functions: Counter = Counter()
    for line in path.read_text().splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        stack = stack_text.split(";")
        if idle(stack[-1]):
            continue
        parts[part_of(stack)] += int(count)
        seen = set()
        for frame in stack:
            function, _, where = frame.partition(" (")
            where = where.split(":")[0].split("site-packages/")[-1]
            if where.startswith(("rasa/", "bot/", "actions/", "/")) and "runpy" not in where:
                name = f"{function} ({where.removeprefix(f'{ROOT}/')})"
                if name not in seen:
                    seen.add(name)
                    functions[name] += int(count)
    return parts, functions


class Sampler:
    """py-spy recording a process and its children until stopped."""

    def __init__(self, pid: int, out: Path, rate: int) -> None:
        self.out, self.rate = out, rate
        py_spy = Path(sys.executable).parent / "py-spy"
        self.process = subprocess.Popen(
            [str(py_spy), "record", "--pid", str(pid), "--subprocesses"]
            + ["--rate", str(rate), "--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)  # py-spy attaches
        if self.process.poll() is not None:
            raise RuntimeError(f"py-spy could not sample pid {pid}: {self.process.stderr.read().strip()}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)  # py-spy writes its output on ^C
        self.process.wait(timeout=60)


def profile(pids: dict[str, int], run, turns: int, folder: Path, rate: int) -> dict:
    samplers = {name: Sampler(pid, folder / f"{name}.txt", rate) for name, pid in pids.items()}
    run()
    result = {}
    for name, sampler in samplers.items():
        sampler.stop()
        parts, functions = read_profile(sampler.out)
        per_turn = 1000 / rate / turns
        result[name] = {
            "cpu_ms_per_turn": round(sum(parts.values()) * per_turn, 1),
            "parts_ms_per_turn": {part: round(n * per_turn, 1) for part, n in parts.most_common()},
            "top_functions_ms_per_turn": {f: round(n * per_turn, 1) for f, n in functions.most_common(40)},
        }
    return result


def measure(conversations: int, profile_conversations: int, rate: int, keep: Path | None = None) -> dict:
    results: dict = provenance()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = stack_settings(folder / "home", Settings().rasa_workers)
        script = our_script(settings)
        stock = stock_project(settings)
        training.train(settings)
        print("starting this project's stack ...", flush=True)
        processes.up(settings)
        results["warm_up_s"] = round(processes.wait_until_warm(settings), 1)
        print(f"the action server's warm-up took {results['warm_up_s']} s more", flush=True)
        stock_server = None
        try:
            stock_port = free_port()
            print("starting the stock rasa init bot on the same Redis ...", flush=True)
            stock_server = start_stock(stock, settings, stock_port, folder / "stock.log")
            stock_url = f"http://{settings.host}:{stock_port}"
            session = requests.Session()
            for _ in range(3):  # warm-up: models, connections, caches
                converse(session, settings.rasa_url, script)
                converse(session, stock_url, STOCK_SCRIPT)
            ours: list[list[float]] = []
            theirs: list[list[float]] = []
            print(f"{conversations} conversations each, alternating ...", flush=True)
            for _ in range(conversations):
                ours.append(converse(session, settings.rasa_url, script))
                theirs.append(converse(session, stock_url, STOCK_SCRIPT))
            results["one_customer"] = {
                "project": one_customer(ours, results_script(script)),
                "stock_rasa_init": one_customer(theirs, STOCK_SCRIPT),
            }
            results["ratio"] = {
                key: round(
                    results["one_customer"]["project"][key] / results["one_customer"]["stock_rasa_init"][key],
                    2,
                )
                for key in ("p50_ms", "p95_ms")
            }
            print(
                "p50 / p95 ms: this project {p50_ms} / {p95_ms}, ".format(
                    **results["one_customer"]["project"]
                )
                + "stock {p50_ms} / {p95_ms}, ".format(**results["one_customer"]["stock_rasa_init"])
                + "ratio {p50_ms}x / {p95_ms}x".format(**results["ratio"]),
                flush=True,
            )
            if profile_conversations <= 0:
                return finish(results, script, settings, conversations, rate)
            print(f"profiling {profile_conversations} conversations each with py-spy ...", flush=True)
            rasa_pid = processes.pid_of(component(settings, "rasa"), settings)
            actions_pid = processes.pid_of(component(settings, "actions"), settings)
            results["profile_project"] = profile(
                {"rasa": rasa_pid, "action_server": actions_pid},
                lambda: [converse(session, settings.rasa_url, script) for _ in range(profile_conversations)],
                profile_conversations * len(script),
                _profiles(keep or folder, "project"),
                rate,
            )
            results["profile_stock"] = profile(
                {"rasa": stock_server.pid},
                lambda: [converse(session, stock_url, STOCK_SCRIPT) for _ in range(profile_conversations)],
                profile_conversations * len(STOCK_SCRIPT),
                _profiles(keep or folder, "stock"),
                rate,
            )
        finally:
            if stock_server is not None:
                stock_server.terminate()
                try:
                    stock_server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    stock_server.kill()
            processes.down(settings)
    return finish(results, script, settings, conversations, rate)


def results_script(script: list[str]) -> list[str]:
    """This project's script as reports show it: no order number or email in them."""
    return script[:2] + ["<order number>", "<email>"] + script[4:]


def one_customer(conversations: list[list[float]], script: list[str]) -> dict:
    """Latency of all turns, and of each step of the script."""
    turns = [seconds for conversation in conversations for seconds in conversation]
    return {
        "turns": len(turns),
        **latency_ms(turns),
        "steps": {
            text: latency_ms([conversation[step] for conversation in conversations])
            for step, text in enumerate(script)
        },
    }


def finish(results: dict, script: list[str], settings, conversations: int, rate: int) -> dict:
    results["scripts"] = {"project": results_script(script), "stock": STOCK_SCRIPT}
    results["settings"] = {
        "rasa_workers": settings.rasa_workers,
        "conversations": conversations,
        "rate_hz": rate,
    }
    return results


def _profiles(folder: Path, name: str) -> Path:
    (folder / name).mkdir(parents=True, exist_ok=True)
    return folder / name


def render(results: dict) -> str:
    one = results["one_customer"]
    ours, stock = one["project"], one["stock_rasa_init"]
    lines = [
        "# What a scripted turn costs, against a stock `rasa init` bot",
        "",
        f"`tandem bench cost` on {results['machine']}, commit {results['commit']}, {results['date']}.",
        "",
        "One customer at a time over REST, conversations alternating between the two bots on the",
        f"same machine and Redis ({results['settings']['conversations']} conversations each).",
        "Measured once the action server's start-up warm-up is over (its voice model loaded and",
        f"the marked responses rephrased: {results.get('warm_up_s', '?')} s after the stack answered).",
        "",
        "| bot | turns | p50 ms | p95 ms |",
        "|---|---|---|---|",
        f"| this project (form with validated slots, order lookup) | {ours['turns']} | {ours['p50_ms']} | {ours['p95_ms']} |",
        f"| stock `rasa init` (moodbot) | {stock['turns']} | {stock['p50_ms']} | {stock['p95_ms']} |",
        f"| **ratio** (target <= 1.2) | | **{results['ratio']['p50_ms']}x** | **{results['ratio']['p95_ms']}x** |",
        "",
        "Scripts: this project " + " / ".join(f"`{t}`" for t in results["scripts"]["project"]),
        "; stock " + " / ".join(f"`{t}`" for t in results["scripts"]["stock"]) + ".",
        "",
        "Each step of the scripts:",
        "",
        "| bot | step | p50 ms | p95 ms |",
        "|---|---|---|---|",
    ]
    for bot, key in (("this project", "project"), ("stock", "stock_rasa_init")):
        for step, figures in one[key].get("steps", {}).items():
            lines.append(f"| {bot} | `{step}` | {figures['p50_ms']} | {figures['p95_ms']} |")
    if "profile_project" not in results:
        return "\n".join([*lines, "", "Not profiled this run (`--profile-conversations 0`)."])
    lines += [
        "",
        "## Where the time goes",
        "",
        f"py-spy samples at {results['settings']['rate_hz']} Hz, CPU milliseconds per turn; each sample",
        "counts in the innermost part of the turn it is in.",
        "",
        "| part of a turn | this project: Rasa | stock: Rasa |",
        "|---|---|---|",
    ]
    mine = results["profile_project"]["rasa"]["parts_ms_per_turn"]
    theirs = results["profile_stock"]["rasa"]["parts_ms_per_turn"]
    for part in dict.fromkeys([p for p, _, _ in PARTS] + [OTHER]):
        lines.append(f"| {part} | {mine.get(part, 0.0)} | {theirs.get(part, 0.0)} |")
    lines.append(
        f"| **all** | **{results['profile_project']['rasa']['cpu_ms_per_turn']}** | "
        f"**{results['profile_stock']['rasa']['cpu_ms_per_turn']}** |"
    )
    actions = results["profile_project"]["action_server"]
    lines += [
        "",
        f"This project's action server: {actions['cpu_ms_per_turn']} ms of CPU per turn. Its heaviest",
        "functions (inclusive, ms per turn):",
        "",
    ]
    project_functions = [
        (f, ms) for f, ms in actions["top_functions_ms_per_turn"].items() if "(actions/" in f or "(bot/" in f
    ]
    lines += [f"- `{f}`: {ms}" for f, ms in project_functions[:12]]
    lines += ["", "The heaviest functions of each side, to 40, are in cost.json."]
    return "\n".join(lines)


def main(
    conversations: int, profile_conversations: int, rate: int, save: bool, keep: Path | None = None
) -> dict:
    results = measure(conversations, profile_conversations, rate, keep)
    publish("cost", render(results), results, save)
    return results


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cost",
        help="one customer at a time: a scripted turn against a stock `rasa init` bot, and a profile",
    )
    p.add_argument("--conversations", type=int, default=60, help="conversations per bot (default 60)")
    p.add_argument(
        "--profile-conversations",
        type=int,
        default=30,
        help="conversations per bot under py-spy (default 30)",
    )
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second (default 250)")
    p.add_argument("--save", action="store_true", help="write docs/benchmarks/cost.md and cost.json")
    p.add_argument(
        "--keep-profiles",
        type=Path,
        metavar="DIR",
        help="keep py-spy's raw samples there (flame graphs: any tool that reads collapsed stacks)",
    )
    p.set_defaults(
        func=lambda args: (
            main(args.conversations, args.profile_conversations, args.rate, args.save, args.keep_profiles)
            and 0
        )
    )


if __name__ == "__main__":
    main(60, 30, 250, save=False)
