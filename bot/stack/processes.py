"""Start, stop and inspect the running assistant: Redis, the action server, the Rasa server.

The components run under the stack's supervisor (bot/stack/supervisor.py: supervisord),
which restarts one that crashes and rotates its log in ``$TANDEM_HOME/logs``. `up` starts
them in order and waits for each to be healthy. Everything binds to ``settings.host``
(127.0.0.1 by default).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis
import requests

from bot.core.orders.sqlite import SQLiteOrders
from bot.core.settings import BOT_DIR, ROOT, Settings
from bot.stack import training
from bot.stack.retention import redis_for
from bot.stack.supervisor import Program, Supervisor, SupervisorError, passed_on

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

    def log_file(self, settings: Settings) -> Path:
        return settings.logs_dir / f"{self.name}.log"


def _http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    try:
        return requests.get(url, headers=headers, timeout=2).ok
    except requests.RequestException:
        return False


def _redis_ok(settings: Settings) -> bool:
    try:
        return bool(redis_for(settings, timeout=1).ping())
    except redis.RedisError:
        return False


def redis_config(settings: Settings) -> Path:
    """Redis' settings file, owner-only: the password is in it, not on the command line."""
    path = settings.run_dir / "redis.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"requirepass {settings.redis_password}\n")
    path.chmod(0o600)
    return path


def _rasa_ready(url: str, token: str) -> bool:
    """Rasa answers /status (token-protected) with a loaded model."""
    try:
        response = requests.get(f"{url}/status", params={"token": token}, timeout=2)
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
    redis_dir = settings.home / "redis"
    return [
        Component(
            name="redis",
            port=settings.redis_port,
            url=f"redis://{settings.host}:{settings.redis_port}",  # no password: it is printed
            command=[
                shutil.which("redis-server") or "redis-server",
                str(settings.run_dir / "redis.conf"),  # written by up(): the password
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
        *rasa_servers(settings, model, env),
    ]


def rasa_servers(settings: Settings, model: Path | None, env: dict[str, str]) -> list[Component]:
    """The Rasa server on rasa_port; or, with several replicas, each on a port of its own
    ("rasa", "rasa-2", ...) and HAProxy ("balancer") on rasa_port in front of them."""
    if settings.rasa_replicas == 1:
        return [_rasa_server("rasa", settings.rasa_port, settings, model, env)]
    replicas = [
        _rasa_server(
            "rasa" if index == 1 else f"rasa-{index}", settings.replica_port(index), settings, model, env
        )
        for index in range(1, settings.rasa_replicas + 1)
    ]
    balancer = Component(
        name="balancer",
        port=settings.rasa_port,
        url=settings.rasa_url,
        command=[haproxy_binary(), "-f", str(settings.run_dir / "haproxy.cfg"), "-db"],
        healthy=lambda: _http_ok(f"{settings.rasa_url}/"),
        start_timeout=20,
        env={},
        hint="`haproxy -c -f` on the file above checks it; `make setup` installs Debian's haproxy.",
    )
    return [*replicas, balancer]


def _rasa_server(
    name: str, port: int, settings: Settings, model: Path | None, env: dict[str, str]
) -> Component:
    url = f"http://{settings.host}:{port}"
    return Component(
        name=name,
        port=port,
        url=url,
        command=[
            str(settings.rasa_venv / "bin" / "python"),
            "-m",
            "bot.rasa_side.launch",  # adds the token from the environment, not from here
            "run",
            "--interface",
            settings.host,
            "--port",
            str(port),
            "--enable-api",
            "--cors",  # the widget's pages only (bot/core/settings.py: cors_origins)
            *settings.cors_origins,
            "--endpoints",
            str(BOT_DIR / "endpoints.yml"),
            "--credentials",
            str(BOT_DIR / "credentials.yml"),
            "--model",
            str(model or ""),
        ],
        healthy=lambda: _rasa_ready(url, settings.rasa_token),
        start_timeout=240,
        # Several Sanic workers share the port; one message of a conversation runs at a
        # time across all of them and all replicas (the atomic lock store,
        # bot/rasa_side/lock_store.py)
        env={
            **env,
            "TANDEM_RASA_TOKEN": settings.rasa_token,
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "SANIC_WORKERS": str(settings.rasa_workers),
            # no request body over 1 MB is read at all; a chat message has a far smaller
            # limit of its own (bot/rasa_side/guard.py)
            "SANIC_REQUEST_MAX_SIZE": str(1_000_000),
            # behind HAProxy: the client's address is the one in X-Forwarded-For (set by
            # the balancer); without it nothing in front is trusted to say so
            **({"SANIC_PROXIES_COUNT": "1"} if settings.rasa_replicas > 1 else {}),
        },
        hint="If the model does not load, retrain it with `tandem train --force`.",
    )


def haproxy_binary() -> str:
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/bin") or "haproxy"


# what a REST client gets when no replica is up: Rasa's reply shape with the polite message
# (one file for `tandem up --replicas N` and deploy/compose.yaml)
ERROR_PAGE = ROOT / "deploy" / "haproxy-503.http"


def haproxy_config(settings: Settings) -> Path:
    """HAProxy's configuration for the replicas (run/haproxy.cfg).

    - Least connections: a replica busy with long turns gets fewer new ones.
    - Health: Rasa's own `/` every 2 s (is the process serving), not the deep check of
      /webhooks/rest/health: with Redis down every replica still answers politely. A busy
      replica answers it late, so the check waits up to 10 s (with 1 s, both replicas of a
      loaded stack were taken out and every customer got a 503).
    - A request that finds its replica dead (refused, or closed without an answer) is sent
      to another one; a socket.io connection stays on its replica (WebSocket, one TCP
      connection) and, if that one dies, the widget reconnects through the balancer.
    - With no replica up, a REST client gets Rasa's reply shape with the polite message
      (503), not an HTML page.
    """
    run = settings.run_dir
    run.mkdir(parents=True, exist_ok=True)
    servers = [
        f"    server rasa-{index} {settings.host}:{settings.replica_port(index)} check"
        for index in range(1, settings.rasa_replicas + 1)
    ]
    text = "\n".join(
        [
            "# written by `tandem up --replicas N` (bot/stack/processes.py): edits are overwritten",
            "global",
            "    log stdout format raw local0 notice",
            "defaults",
            "    mode http",
            "    log global",
            "    option dontlognull",
            "    option forwardfor",  # the customer's address, for the per-client rate limit
            "    option http-buffer-request",  # a whole request in hand, so it can be retried
            "    timeout connect 2s",
            "    timeout client 1h",
            "    timeout server 200s",  # a turn may wait for its lock (60 s) and its actions
            "    timeout tunnel 1h",  # an open WebSocket
            "    retries 3",
            "    option redispatch 1",
            "    retry-on conn-failure empty-response",
            f"    errorfile 503 {ERROR_PAGE}",
            "frontend rasa",
            f"    bind {settings.host}:{settings.rasa_port}",
            "    default_backend replicas",
            "backend replicas",
            "    balance leastconn",
            "    option httpchk GET /",
            "    http-check expect status 200",
            # a replica busy with a burst answers its check late: only one that does not
            # answer for 3 checks of 10 s is out (a dead one refuses at once, and requests
            # meanwhile are retried on another replica)
            "    timeout check 10s",
            "    default-server inter 2s fall 3 rise 2",
            *servers,
            "",
        ]
    )
    path = run / "haproxy.cfg"
    path.write_text(text)
    return path


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


def programs(settings: Settings, model: Path | None = None) -> list[Program]:
    return [Program(c.name, c.command, c.env, start_seconds=1) for c in components(settings, model)]


def pid_of(component: Component, settings: Settings) -> int | None:
    """The component's process id, as its supervisor knows it, or None."""
    return Supervisor(settings).pid(component.name)


def kill_and_wait_for_restart(component: Component, settings: Settings) -> float | None:
    """kill -9 the component and wait for its supervisor to have a new one healthy: the
    seconds that took, or None when it was not back within its start timeout. (For the
    fault tests and `tandem bench security`.)"""
    before = pid_of(component, settings)
    if before is None:
        raise StackError(f"{component.name} is not running")
    os.kill(before, signal.SIGKILL)
    started = time.monotonic()
    while time.monotonic() - started < component.start_timeout:
        after = pid_of(component, settings)
        if after and after != before and component.healthy():
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def start(component: Component, settings: Settings) -> None:
    """Have the supervisor start the component and wait until it is healthy."""
    supervisor = Supervisor(settings)
    state = (supervisor.info(component.name) or {}).get("statename")
    if state == "RUNNING" and component.healthy():
        print(f"  {component.name:8} already running at {component.url}")
        return
    if state not in ("RUNNING", "STARTING", "BACKOFF") and port_in_use(settings.host, component.port):
        variable = f"TANDEM_{component.name.upper()}_PORT"
        raise StackError(
            f"port {component.port} on {settings.host} is taken by another program, so {component.name} "
            f"cannot start. Stop that program (`ss -ltnp 'sport = :{component.port}'` shows it) "
            f"or choose another port: {variable}=<port> tandem up"
        )
    log_file = component.log_file(settings)
    started = time.monotonic()
    try:
        supervisor.start(component.name)
    except SupervisorError as error:
        raise StackError(str(error)) from None
    deadline = started + component.start_timeout
    while time.monotonic() < deadline:
        state = (supervisor.info(component.name) or {}).get("statename")
        if state in ("BACKOFF", "EXITED", "FATAL"):
            supervisor.stop(component.name)  # not a crash loop in the background
            raise StackError(
                f"{component.name} exited during start-up. "
                f"Last lines of {log_file}:\n{_log_tail(log_file)}\n{component.hint}".rstrip()
            )
        if component.healthy():
            print(f"  {component.name:8} up at {component.url} ({time.monotonic() - started:.1f} s)")
            return
        time.sleep(0.3)
    supervisor.stop(component.name)
    raise StackError(
        f"{component.name} did not become healthy within {component.start_timeout:.0f} s. "
        f"Last lines of {log_file}:\n{_log_tail(log_file)}\n{component.hint}".rstrip()
    )


@contextlib.contextmanager
def run_apart(component: Component, settings: Settings, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """The component run outside its supervisor, with `env` added to its environment (for
    the fault tests and `tandem bench faults`: an action server whose knowledge store is
    a Qdrant server that does not answer). Waited for until healthy; on leaving it is
    stopped and the supervisor's own is started again."""
    stop(component, settings)
    environment = {**passed_on(), **component.env, **env}
    log_path = settings.logs_dir / f"{component.name}-apart.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            component.command, env=environment, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + component.start_timeout
        while not component.healthy():
            if process.poll() is not None or time.monotonic() > deadline:
                raise StackError(f"{component.name} did not start apart; its log: {log_path}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        start(component, settings)


def stop(component: Component, settings: Settings) -> bool:
    """Stop a component (its supervisor keeps it stopped); whether it was running."""
    return Supervisor(settings).stop(component.name)


def _stop_unsupervised(settings: Settings) -> None:
    """Components started by an older `tandem up`, before the supervisor: a pid file each."""
    for pid_file in settings.run_dir.glob("*.pid"):
        if pid_file.name == "supervisord.pid":
            continue
        try:
            os.killpg(int(pid_file.read_text().strip()), signal.SIGTERM)
            time.sleep(2)
        except (OSError, ValueError):
            pass
        pid_file.unlink(missing_ok=True)


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
    redis_config(settings)
    if settings.rasa_replicas > 1:
        haproxy_config(settings)
    _stop_unsupervised(settings)
    try:
        Supervisor(settings).ensure_running(programs(settings, model))
    except SupervisorError as error:
        raise StackError(str(error)) from None
    for component in components(settings, model):
        if only is None or component.name in only:
            start(component, settings)


def wait_until_warm(settings: Settings, timeout: float = 600.0) -> float:
    """Wait until the action server's start-up warm-up is over (the voice model loaded and
    the marked responses rephrased, or given up on: ``/health/voice`` says ``warm``), and
    return the seconds waited. The stack answers before that, with responses as written and
    extractive answers; a benchmark of steady turns waits, so that the warm-up's generations
    do not share the CPU with what it measures."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if requests.get(f"{settings.actions_url}/health/voice", timeout=2).json().get("warm"):
                return time.monotonic() - started
        except (requests.RequestException, ValueError):
            pass
        time.sleep(1)
    raise StackError(
        f"the action server's warm-up did not end within {timeout:.0f} s: "
        f"see {settings.logs_dir / 'actions.log'}"
    )


def private_folder(path: Path) -> None:
    """Make `path` (0700), or close an existing one to others: it holds conversations,
    orders, logs and secrets. Files already in it are closed too (an older install's)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    for child in path.iterdir():
        if child.is_file() and child.stat().st_mode & 0o077:
            child.chmod(0o600)


def down(settings: Settings, only: set[str] | None = None) -> list[str]:
    """Stop the components (all, or `only`); with all of them, the supervisor too."""
    supervisor = Supervisor(settings)
    stopped = [
        component.name
        for component in reversed(components(settings))
        if (only is None or component.name in only) and supervisor.stop(component.name)
    ]
    if only is None:
        supervisor.shutdown()
    return stopped


def status(settings: Settings) -> list[dict]:
    rows = []
    for component in components(settings):
        pid = pid_of(component, settings)
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
