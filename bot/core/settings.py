"""Settings of the `tandem` tool and the action server, read from environment variables.

Every variable is optional; the defaults run everything on one machine, bound to
127.0.0.1. `.env.example` lists them. Read once per process through :func:`get_settings`
(tests build their own :class:`Settings` for an isolated stack).
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from bot.core.brand import Brand, brand_from

ROOT = Path(__file__).resolve().parents[2]
BOT_DIR = ROOT / "bot"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def _env_number(name: str, default: float, kind: type = int, what: str = "a port number") -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = kind(value)
    except ValueError:
        number = -1
    if number <= 0:
        message = f"{name}={value!r} is not {what}; unset it or give a positive {kind.__name__}"
        raise SystemExit(message) from None  # the user's to fix: no traceback
    return number


def _env_host(name: str) -> str:
    return os.environ.get(name) or os.environ.get("TANDEM_HOST", "127.0.0.1")


def _env_int(name: str, default: int) -> int:
    return int(_env_number(name, default))


def _secret(path: Path) -> str:
    """The secret kept in `path`, made (random, owner-only) the first time it is asked for."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it a moment ago
            time.sleep(0.1)
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(24))
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    """Where things live and listen, and which brand is served. All paths are absolute."""

    home: Path = field(default_factory=lambda: _env_path("TANDEM_HOME", ROOT / ".tandem"))
    host: str = field(default_factory=lambda: os.environ.get("TANDEM_HOST", "127.0.0.1"))
    # where Redis and the action server are reached (default: host). Another machine's or
    # a container's name when they run elsewhere (deploy/: compose and Kubernetes)
    redis_host: str = field(default_factory=lambda: _env_host("TANDEM_REDIS_HOST"))
    actions_host: str = field(default_factory=lambda: _env_host("TANDEM_ACTIONS_HOST"))
    redis_port: int = field(default_factory=lambda: _env_int("TANDEM_REDIS_PORT", 6390))
    actions_port: int = field(default_factory=lambda: _env_int("TANDEM_ACTIONS_PORT", 5055))
    rasa_port: int = field(default_factory=lambda: _env_int("TANDEM_RASA_PORT", 5005))
    models_dir: Path = field(default_factory=lambda: _env_path("TANDEM_MODELS", ROOT / "models"))
    rasa_venv: Path = field(default_factory=lambda: _env_path("TANDEM_RASA_VENV", ROOT / ".venv-rasa"))
    # the brand folder served: a name under bot/brands/ or a path ($TANDEM_BRAND)
    brand: Brand = field(default_factory=lambda: brand_from(os.environ.get("TANDEM_BRAND")))
    # a longer customer message is refused before any model reads it (bot/rasa_side/guard.py)
    max_message_chars: int = field(
        default_factory=lambda: int(_env_number("TANDEM_MAX_MESSAGE_CHARS", 2000, int, "a length"))
    )
    # Sanic worker processes of the Rasa server: they share Redis' tracker and lock store
    # (bot/rasa_side/lock_store.py keeps one message of a conversation at a time)
    rasa_workers: int = field(
        default_factory=lambda: int(_env_number("TANDEM_RASA_WORKERS", 2, int, "a count"))
    )
    # Rasa servers behind the load balancer (HAProxy) on rasa_port; 1: no balancer, Rasa
    # itself listens there. `tandem up --replicas N` remembers its choice (get_settings).
    rasa_replicas: int = field(default_factory=lambda: _env_int("TANDEM_RASA_REPLICAS", 1))
    # a verified order is forgotten after this long without a message (actions/identity.py)
    identity_idle_minutes: float = field(
        default_factory=lambda: _env_number("TANDEM_IDENTITY_IDLE_MINUTES", 15.0, float, "a duration")
    )

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def orders_db_path(self) -> Path:
        """The sample SQLite order store of the brand (brand.yml `orders: {backend: sqlite}`)."""
        return _env_path("TANDEM_ORDERS_DB", self.home / f"orders-{self.brand.name}.sqlite")

    @property
    def redis_password(self) -> str:
        """Redis' password: $TANDEM_REDIS_PASSWORD, else one generated per install."""
        return os.environ.get("TANDEM_REDIS_PASSWORD") or _secret(self.home / "redis-password")

    @property
    def redis_url(self) -> str:
        return f"redis://:{self.redis_password}@{self.redis_host}:{self.redis_port}/0"

    @property
    def retention_days(self) -> float:
        """How long conversations, the handoff list and logs are kept (brand.yml `privacy`)."""
        return self.brand.retention_days()

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def replicas_file(self) -> Path:
        return self.run_dir / "replicas"

    def replica_port(self, index: int) -> int:
        """The port of Rasa replica `index` (1..rasa_replicas) behind the balancer."""
        return self.rasa_port + index

    @property
    def actions_url(self) -> str:
        return f"http://{self.actions_host}:{self.actions_port}"

    @property
    def rasa_token(self) -> str:
        """Token for Rasa's HTTP API: $TANDEM_RASA_TOKEN, else one generated per install."""
        return os.environ.get("TANDEM_RASA_TOKEN") or _secret(self.home / "rasa-token")

    @property
    def actions_token(self) -> str:
        """What Rasa sends the action server (/webhook, /nlg): $TANDEM_ACTIONS_TOKEN (given to
        every container of a deployment), else made once per install."""
        return os.environ.get("TANDEM_ACTIONS_TOKEN") or _secret(self.home / "actions-token")

    @property
    def agent_token(self) -> str:
        """What the team's agents sign in to the console with (/agent/): $TANDEM_AGENT_TOKEN,
        else one made per install ($TANDEM_HOME/agent-token). The console is never open
        without it."""
        return os.environ.get("TANDEM_AGENT_TOKEN") or _secret(self.home / "agent-token")

    @property
    def events_db_url(self) -> str:
        """Where Rasa's SQL event broker writes every conversation event, for analytics:
        $TANDEM_EVENTS_DB_URL (e.g. postgresql://user:pw@host/db), else SQLite in $TANDEM_HOME."""
        return os.environ.get("TANDEM_EVENTS_DB_URL") or f"sqlite:///{self.home / 'events.db'}"

    @property
    def session_key_file(self) -> Path:
        """The key that signs the widget's conversation ids (made once per install)."""
        path = self.home / "session-key"
        _secret(path)
        return path

    @property
    def rest_token_file(self) -> Path:
        """The REST channel's token, needed where Rasa listens beyond loopback (made once)."""
        path = self.home / "rest-token"
        _secret(path)
        return path

    @property
    def cors_origins(self) -> list[str]:
        """Origins whose pages may call Rasa from a browser: $TANDEM_CORS (space or comma
        separated), else the demo site's own origin (the action server)."""
        given = os.environ.get("TANDEM_CORS", "").replace(",", " ").split()
        if given:
            return given
        origins = [self.actions_url]
        if self.host == "127.0.0.1":
            origins.append(f"http://localhost:{self.actions_port}")
        return origins

    def env(self) -> dict[str, str]:
        """Variables that the processes of the stack read (endpoints.yml, actions)."""
        return {
            "TANDEM_HOME": str(self.home),
            "TANDEM_HOST": self.host,
            "TANDEM_REDIS_HOST": self.redis_host,
            "TANDEM_ACTIONS_HOST": self.actions_host,
            "TANDEM_REDIS_PORT": str(self.redis_port),
            "TANDEM_ACTIONS_PORT": str(self.actions_port),
            "TANDEM_RASA_PORT": str(self.rasa_port),
            "TANDEM_ORDERS_DB": str(self.orders_db_path),
            "TANDEM_BRAND": str(self.brand.root),
            "TANDEM_MAX_MESSAGE_CHARS": str(self.max_message_chars),
            "TANDEM_IDENTITY_IDLE_MINUTES": str(self.identity_idle_minutes),
            "TANDEM_SESSION_KEY_FILE": str(self.session_key_file),
            "TANDEM_REST_TOKEN_FILE": str(self.rest_token_file),
            "TANDEM_ACTIONS_TOKEN": self.actions_token,
            "TANDEM_REDIS_PASSWORD": self.redis_password,
            "TANDEM_RETENTION_SECONDS": str(int(self.retention_days * 86400)),
            "TANDEM_CORS": " ".join(self.cors_origins),
            "TANDEM_EVENTS_DB_URL": self.events_db_url,
        }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """This process' settings. Without $TANDEM_RASA_REPLICAS, the number of replicas is the
    one the last `tandem up --replicas N` chose for this $TANDEM_HOME (run/replicas)."""
    settings = Settings()
    if not os.environ.get("TANDEM_RASA_REPLICAS"):
        try:
            remembered = int(settings.replicas_file.read_text().strip())
        except (OSError, ValueError):
            return settings
        return replace(settings, rasa_replicas=max(1, remembered))
    return settings


def current_brand() -> Brand:
    """The brand this process serves (settings' $TANDEM_BRAND, read once)."""
    return get_settings().brand
