"""Start, stop and inspect the running assistant: Redis, the action server, the Rasa server.

Each component runs as its own process group, with its pid in ``$TANDEM_HOME/run`` and its
log in ``$TANDEM_HOME/logs``. Everything binds to ``settings.host`` (127.0.0.1 by default).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from bot.core.orders.sqlite import SQLiteOrders
from bot.core.settings import BOT_DIR, ROOT, Settings
from bot.stack import training

logger = logging.getLogger(__name__)

APP_PYTHON = ROOT / ".venv" / "bin" / "python"


class StackError(Exception):
    """Something stops the stack from starting; the message says how to fix it."""


@dataclass
class Component:
    name: str
    port: int
    url: str
    command: list[str]
    healthy: Callable[[], bool]
    start_timeout: float
    env: dict[str, str]
    hint: str = ""  # what usually mends a failed start

    def pid_file(self, settings: Settings) -> Path:
        return settings.run_dir / f"{self.name}.pid"

    def log_file(self, settings: Settings) -> Path:
        return settings.logs_dir / f"{self.name}.log"


def _http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    try:
        return requests.get(url, headers=headers, timeout=2).ok
    except requests.RequestException:
        return False


def _redis_ok(settings: Settings) -> bool:
    try:
        with socket.create_connection((settings.host, settings.redis_port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _rasa_ready(settings: Settings) -> bool:
    """Rasa answers /status (token-protected) with a loaded model."""
    try:
        response = requests.get(
            f"{settings.rasa_url}/status", params={"token": settings.rasa_token}, timeout=2
        )
        return response.ok and bool(response.json().get("model_file"))
    except (requests.RequestException, ValueError):
        return False


def redis_binary() -> str:
    path = shutil.which("redis-server") or shutil.which(
        "redis-server", path="/usr/sbin:/usr/bin:/usr/local/bin"
    )
    if path is None:
        raise StackError(
            "redis-server is not installed: run `make setup` (it installs Debian's redis-server)"
        )
    return path


def components(settings: Settings, model: Path | None = None) -> list[Component]:
    env = settings.env()
    rasa_bin = settings.rasa_venv / "bin" / "rasa"
    redis_dir = settings.home / "redis"
    return [
        Component(
            name="redis",
            port=settings.redis_port,
            url=settings.redis_url,
            command=[
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(settings.redis_port),
                "--bind",
                settings.host,
                "--dir",
                str(redis_dir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
            ],
            healthy=lambda: _redis_ok(settings),
            start_timeout=20,
            env={},
            hint=(
                f"If the log shows a bad append-only file, repair it with `redis-check-aof --fix "
                f"{redis_dir}/appendonlydir/*.incr.aof`, or start afresh with `rm -r {redis_dir}` "
                "(stored conversations are lost)."
            ),
        ),
        Component(
            name="actions",
            port=settings.actions_port,
            url=f"{settings.actions_url}/webhook",
            command=[str(APP_PYTHON), "-m", "actions.server", "--port", str(settings.actions_port)],
            healthy=lambda: _http_ok(f"{settings.actions_url}/health"),
            start_timeout=60,
            env={**env, "SANIC_HOST": settings.host},
            hint="An import error in actions/ shows above; `make setup` installs missing packages.",
        ),
        Component(
            name="rasa",
            port=settings.rasa_port,
            url=settings.rasa_url,
            command=[
                str(rasa_bin),
                "run",
                "--interface",
                settings.host,
                "--port",
                str(settings.rasa_port),
                "--enable-api",
                # One argument with "=": a token that starts with "-" would otherwise be
                # read by argparse as another option, and Rasa would refuse to start.
                f"--auth-token={settings.rasa_token}",
                "--cors",  # the widget's pages only (bot/core/settings.py: cors_origins)
                *settings.cors_origins,
                "--endpoints",
                str(BOT_DIR / "endpoints.yml"),
                "--credentials",
                str(BOT_DIR / "credentials.yml"),
                "--model",
                str(model or ""),
            ],
            healthy=lambda: _rasa_ready(settings),
            start_timeout=240,
            # One Sanic worker on purpose: Rasa 3.6's RedisLockStore updates its ticket list
            # with a non-atomic read-modify-write, so with several worker processes a burst
            # of messages on one conversation loses some (LockError, empty reply). Measured
            # in docs/benchmarks/stack.md. Scale out with replicas only once the lock is atomic.
            env={
                **env,
                "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "SANIC_WORKERS": "1",
                # no request body over 1 MB is read at all; a chat message has a far smaller
                # limit of its own (bot/rasa_side/guard.py)
                "SANIC_REQUEST_MAX_SIZE": str(1_000_000),
            },
            hint="If the model does not load, retrain it with `tandem train --force`.",
        ),
    ]


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(component: Component, settings: Settings) -> None:
    pid_file, log_file = component.pid_file(settings), component.log_file(settings)
    if read_pid(pid_file) and component.healthy():
        print(f"  {component.name:8} already running at {component.url}")
        return
    if port_in_use(settings.host, component.port):
        variable = f"TANDEM_{component.name.upper()}_PORT"
        raise StackError(
            f"port {component.port} on {settings.host} is taken by another program, so {component.name} "
            f"cannot start. Stop that program (`ss -ltnp 'sport = :{component.port}'` shows it) "
            f"or choose another port: {variable}=<port> tandem up"
        )
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
        log.write(f"\n--- starting {component.name} at {time.ctime()} ---\n".encode())
        log.flush()
        process = subprocess.Popen(
            component.command,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **component.env},
            start_new_session=True,
            umask=0o077,  # what a component writes (logs, Redis' files) is the owner's alone
        )
    pid_file.write_text(str(process.pid))
    deadline = started + component.start_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pid_file.unlink(missing_ok=True)
            raise StackError(
                f"{component.name} exited during start-up (code {process.returncode}). "
                f"Last lines of {log_file}:\n{_log_tail(log_file)}\n{component.hint}".rstrip()
            )
        if component.healthy():
            print(f"  {component.name:8} up at {component.url} ({time.monotonic() - started:.1f} s)")
            return
        time.sleep(0.3)
    stop(component, settings)
    raise StackError(
        f"{component.name} did not become healthy within {component.start_timeout:.0f} s. "
        f"Last lines of {log_file}:\n{_log_tail(log_file)}\n{component.hint}".rstrip()
    )


def stop(component: Component, settings: Settings, timeout: float = 15) -> bool:
    """Stop a component that we started; returns whether something was running."""
    pid_file = component.pid_file(settings)
    pid = read_pid(pid_file)
    pid_file.unlink(missing_ok=True)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read_pid_alive(pid) is False:
            return True
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


def read_pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours counts as gone
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        return state != "Z"
    except OSError:
        return False


def up(settings: Settings, only: set[str] | None = None) -> None:
    """Start what is not running, in order, each waited for until healthy."""
    model = training.current_model(settings)
    if model is None:
        raise StackError(
            f"there is no trained model for the current domain, data and config.yml of brand "
            f"{settings.brand.name}: run `tandem train` (or `make run`, which trains what is stale)"
        )
    for folder in (settings.home, settings.run_dir, settings.logs_dir, settings.home / "redis"):
        private_folder(folder)
    sample_store = settings.brand.orders().get("backend", "sqlite") == "sqlite"
    if sample_store and settings.brand.orders_seed.exists() and not settings.orders_db_path.exists():
        SQLiteOrders(settings.orders_db_path, settings.brand.orders_seed).reset()
        print(f"  orders   database created at {settings.orders_db_path}")
    redis_binary()
    for component in components(settings, model):
        if only is None or component.name in only:
            start(component, settings)


def private_folder(path: Path) -> None:
    """Make `path` (0700), or close an existing one to others: it holds conversations,
    orders, logs and secrets. Files already in it are closed too (an older install's)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    for child in path.iterdir():
        if child.is_file() and child.stat().st_mode & 0o077:
            child.chmod(0o600)


def down(settings: Settings, only: set[str] | None = None) -> list[str]:
    stopped = []
    for component in reversed(components(settings)):
        if (only is None or component.name in only) and stop(component, settings):
            stopped.append(component.name)
    return stopped


def status(settings: Settings) -> list[dict]:
    rows = []
    for component in components(settings):
        pid = read_pid(component.pid_file(settings))
        healthy = component.healthy()
        rows.append(
            {
                "name": component.name,
                "url": component.url,
                "pid": pid,
                "state": "up" if healthy else ("starting or unhealthy" if pid else "down"),
                "log": str(component.log_file(settings)),
            }
        )
    return rows
