"""Settings of the `tandem` tool and the action server, read from environment variables.

Every variable is optional; the defaults run everything on one machine, bound to
127.0.0.1. `.env.example` lists them. Read once per process through :func:`get_settings`
(tests build their own :class:`Settings` for an isolated stack).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from bot.core.brand import Brand, brand_from

ROOT = Path(__file__).resolve().parents[2]
BOT_DIR = ROOT / "bot"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        message = f"{name}={value!r} is not a port number; unset it or give an integer"
        raise SystemExit(message) from None  # the user's to fix: no traceback


@dataclass(frozen=True)
class Settings:
    """Where things live and listen, and which brand is served. All paths are absolute."""

    home: Path = field(default_factory=lambda: _env_path("TANDEM_HOME", ROOT / ".tandem"))
    host: str = field(default_factory=lambda: os.environ.get("TANDEM_HOST", "127.0.0.1"))
    redis_port: int = field(default_factory=lambda: _env_int("TANDEM_REDIS_PORT", 6390))
    actions_port: int = field(default_factory=lambda: _env_int("TANDEM_ACTIONS_PORT", 5055))
    rasa_port: int = field(default_factory=lambda: _env_int("TANDEM_RASA_PORT", 5005))
    models_dir: Path = field(default_factory=lambda: _env_path("TANDEM_MODELS", ROOT / "models"))
    rasa_venv: Path = field(default_factory=lambda: _env_path("TANDEM_RASA_VENV", ROOT / ".venv-rasa"))
    # the brand folder served: a name under bot/brands/ or a path ($TANDEM_BRAND)
    brand: Brand = field(default_factory=lambda: brand_from(os.environ.get("TANDEM_BRAND")))

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
    def redis_url(self) -> str:
        return f"redis://{self.host}:{self.redis_port}/0"

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://{self.host}:{self.actions_port}"

    @property
    def rasa_token(self) -> str:
        """Token for Rasa's HTTP API: $TANDEM_RASA_TOKEN, else one generated per install."""
        token = os.environ.get("TANDEM_RASA_TOKEN")
        if token:
            return token
        path = self.home / "rasa-token"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(24))
            path.chmod(0o600)
        return path.read_text().strip()

    def env(self) -> dict[str, str]:
        """Variables that the processes of the stack read (endpoints.yml, actions)."""
        return {
            "TANDEM_HOME": str(self.home),
            "TANDEM_HOST": self.host,
            "TANDEM_REDIS_PORT": str(self.redis_port),
            "TANDEM_ACTIONS_PORT": str(self.actions_port),
            "TANDEM_RASA_PORT": str(self.rasa_port),
            "TANDEM_ORDERS_DB": str(self.orders_db_path),
            "TANDEM_BRAND": str(self.brand.root),
        }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def current_brand() -> Brand:
    """The brand this process serves (settings' $TANDEM_BRAND, read once)."""
    return get_settings().brand
