"""`tandem bench security`: the figures of the security findings, on a real stack of its own.

- oversized messages over REST and socket.io: reply time, Rasa's memory before and after,
  and the turn latency of another customer while a flood of them arrives;
- a stolen conversation id: how many of an attacker's messages reach the conversation;
- kill -9 of each component: seconds until its supervisor has it healthy again, and
  whether a conversation in the middle of a form goes on;
- `tandem privacy forget`: what it removed, and how long it took.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import socketio

from bot.bench.report import latency_ms, provenance, write_report
from bot.bench.stack import free_port
from bot.core.orders.sqlite import SQLiteOrders
from bot.core.settings import Settings
from bot.stack import processes, retention, training


def rest(settings: Settings, sender: str, text: str, timeout: float = 120) -> tuple[int, list, float]:
    started = time.monotonic()
    reply = requests.post(
        f"{settings.rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        timeout=timeout,
    )
    body = reply.json() if reply.headers.get("content-type", "").startswith("application/json") else []
    return reply.status_code, body, time.monotonic() - started


def texts(messages: list) -> str:
    return " ".join(m.get("text", "") for m in messages if isinstance(m, dict))


def rasa_rss_mb(settings: Settings) -> float:
    rasa = next(c for c in processes.components(settings) if c.name == "rasa")
    status = Path(f"/proc/{processes.pid_of(rasa, settings)}/status").read_text()
    return int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1]) / 1024


def oversized_rest(settings: Settings) -> list[dict]:
    rows = []
    for size in (2_001, 10_000, 100_000, 200_000, 900_000, 2_000_000):
        before = rasa_rss_mb(settings)
        status, body, seconds = rest(settings, f"big-{uuid.uuid4().hex[:8]}", "x" * size)
        rows.append(
            {
                "chars": size,
                "status": status,
                "reply_ms": round(seconds * 1000, 1),
                "asked_to_shorten": "too long" in texts(body),
                "rasa_rss_delta_mb": round(rasa_rss_mb(settings) - before, 1),
            }
        )
    return rows


def flood_and_customer(settings: Settings, flood: int = 40, turns: int = 20) -> dict:
    """Another customer's turns while `flood` 100 KB messages arrive at once."""
    quiet = [rest(settings, f"calm-{i}", "which payment methods do you accept?")[2] for i in range(turns)]
    stop = threading.Event()

    def flooding() -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            while not stop.is_set():
                list(pool.map(lambda i: rest(settings, f"flood-{i}", "y" * 100_000), range(flood)))

    thread = threading.Thread(target=flooding, daemon=True)
    thread.start()
    time.sleep(0.5)
    during = [rest(settings, f"busy-{i}", "which payment methods do you accept?")[2] for i in range(turns)]
    stop.set()
    thread.join()
    return {"quiet": latency_ms(quiet), "during_flood": latency_ms(during), "flood_messages_at_once": flood}


def socket_checks(settings: Settings) -> dict:
    replies: list = []
    confirmed: list = []
    refused: list = []
    client = socketio.Client(reconnection=False)
    client.on("bot_uttered", replies.append)
    client.on("session_confirm", confirmed.append)
    client.on("session_refused", refused.append)
    client.connect(settings.rasa_url, socketio_path="/socket.io", transports=["websocket"], wait_timeout=10)
    client.emit("session_request", {"session_id": None})
    _wait(lambda: confirmed)
    token = confirmed[-1]["session_id"]
    started = time.monotonic()
    client.emit("user_uttered", {"message": "z" * 5_000, "session_id": token})
    _wait(lambda: replies)
    too_long_ms = round((time.monotonic() - started) * 1000, 1)
    result = {
        "message_5000_chars_reply_ms": too_long_ms,
        "asked_to_shorten": "too long" in replies[-1].get("text", ""),
    }
    # an attacker who knows the conversation's id (not its token)
    attacker = socketio.Client(reconnection=False)
    got: list = []
    attacker.on("bot_uttered", got.append)
    attacker.on("session_refused", refused.append)
    attacker.connect(settings.rasa_url, socketio_path="/socket.io", transports=["websocket"], wait_timeout=10)
    conversation = token.split(".")[0]
    attempts = [conversation, f"{conversation}.forged", token.replace(conversation, "0" * 32)]
    for forged in attempts:
        attacker.emit("user_uttered", {"message": "BB-100021", "session_id": forged})
    time.sleep(2)
    client.emit("user_uttered", {"message": "where is my order", "session_id": token})
    time.sleep(3)
    events = requests.get(
        f"{settings.rasa_url}/conversations/{conversation}/tracker",
        params={"token": settings.rasa_token},
        timeout=30,
    ).json()["events"]
    result["stolen_id_messages_sent"] = len(attempts)
    result["stolen_id_messages_that_reached_the_conversation"] = sum(
        1 for e in events if e["event"] == "user" and e.get("text") == "BB-100021"
    )
    result["replies_the_attacker_received"] = len(got)
    started = time.monotonic()
    client.emit("user_uttered", {"message": "q" * 300_000, "session_id": token})
    _wait(lambda: not client.connected, timeout=10)
    result["frame_300kb_socket_closed_ms"] = round((time.monotonic() - started) * 1000, 1)
    attacker.disconnect()
    return result


def _wait(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("no answer in time")
        time.sleep(0.02)


def crash_recovery(settings: Settings) -> list[dict]:
    email = SQLiteOrders(settings.orders_db_path).find("BB-100021").email
    rows = []
    for component in processes.components(settings):
        sender = f"crash-{component.name}-{uuid.uuid4().hex[:6]}"
        rest(settings, sender, "where is my order")
        rest(settings, sender, "BB-100021")
        back = processes.kill_and_wait_for_restart(component, settings)
        status, body, _ = rest(settings, sender, email)
        rows.append(
            {
                "component": component.name,
                "back_healthy_s": None if back is None else round(back, 1),
                "form_went_on": status == 200 and "Order BB-100021" in texts(body),
            }
        )
    return rows


def forget_figures(settings: Settings) -> dict:
    sender = f"forget-{uuid.uuid4().hex[:8]}"
    rest(settings, sender, "where is my order")
    rest(settings, sender, "talk to a human")
    started = time.monotonic()
    report = retention.forget(settings, sender)
    return {"seconds": round(time.monotonic() - started, 2), **report.to_dict()}


def main() -> dict:
    results: dict = provenance()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            home=Path(tmp) / "home",
            redis_port=free_port(),
            actions_port=free_port(),
            rasa_port=free_port(),
        )
        training.train(settings)
        print("starting a stack of its own ...", flush=True)
        processes.up(settings)
        try:
            rest(settings, "warm-up", "hello")
            print("oversized REST messages ...", flush=True)
            results["oversized_rest"] = oversized_rest(settings)
            print("another customer during a flood of 100 KB messages ...", flush=True)
            results["flood"] = flood_and_customer(settings)
            print("socket.io: an oversized message, a stolen id, an oversized frame ...", flush=True)
            results["socket"] = socket_checks(settings)
            print("kill -9 of each component ...", flush=True)
            results["crash_recovery"] = crash_recovery(settings)
            print("tandem privacy forget ...", flush=True)
            results["forget"] = forget_figures(settings)
        finally:
            processes.down(settings)
    write(results)
    return results


def write(results: dict) -> None:
    lines = [
        "# Security benchmark",
        "",
        f"`tandem bench security` on {results['machine']}, commit {results['commit']}, {results['date']}.",
        "Its own stack; every message over REST or socket.io on 127.0.0.1.",
        "",
        "## Oversized messages over REST (limit 2000 characters; bodies over 1 MB refused)",
        "",
        "| characters | HTTP | reply (ms) | asked to shorten | Rasa memory change (MB) |",
        "|---|---|---|---|---|",
    ]
    for row in results["oversized_rest"]:
        lines.append(
            f"| {row['chars']:,} | {row['status']} | {row['reply_ms']} | {row['asked_to_shorten']} | "
            f"{row['rasa_rss_delta_mb']} |"
        )
    flood = results["flood"]
    lines += [
        "",
        f"Another customer's turn while {flood['flood_messages_at_once']} messages of 100 KB arrive at once, "
        f"again and again: p50 {flood['during_flood']['p50_ms']} ms, p95 {flood['during_flood']['p95_ms']} ms "
        f"(quiet: p50 {flood['quiet']['p50_ms']} ms, p95 {flood['quiet']['p95_ms']} ms).",
        "",
        "## socket.io",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    lines += [f"| {key.replace('_', ' ')} | {value} |" for key, value in results["socket"].items()]
    lines += [
        "",
        "## kill -9 of each component, mid-form",
        "",
        "| component | healthy again (s) | the form went on |",
        "|---|---|---|",
    ]
    lines += [
        f"| {r['component']} | {r['back_healthy_s']} | {r['form_went_on']} |"
        for r in results["crash_recovery"]
    ]
    forget = results["forget"]
    lines += [
        "",
        "## tandem privacy forget",
        "",
        f"{forget['seconds']} s: {forget['conversations']} conversation, {forget['handoffs']} handoff entry, "
        f"{forget['log_lines']} log lines ({', '.join(forget['log_files']) or 'none'}), append-only file "
        f"{'rewritten' if forget['aof_rewritten'] else 'not rewritten'}.",
    ]
    md, js = write_report("security", "\n".join(lines), results)
    print(f"wrote {md} and {js}")


def add_parser(bsub: argparse._SubParsersAction) -> None:
    q = bsub.add_parser(
        "security",
        help="oversized messages, a stolen session id, kill -9 of each component, forgetting a customer",
    )
    q.set_defaults(func=cmd_security)


def cmd_security(args: argparse.Namespace) -> int:
    main()
    return 0
