"""Train the brand's Rasa model only when its inputs changed.

A model is named after its brand and a hash of everything it is trained from (the brand's
config.yml, domain and data, the Rasa version), so "is the model stale?" is "does
models/<brand>-<hash>.tar.gz exist?".
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import time
from pathlib import Path

from bot.core.brand import Brand
from bot.core.settings import BOT_DIR, ROOT, Settings

logger = logging.getLogger(__name__)

REQUIREMENTS = BOT_DIR / "requirements-rasa.txt"


class TrainingError(Exception):
    """Rasa training failed or cannot run; the message says why."""


def training_inputs(brand: Brand) -> list[Path]:
    files = [brand.config, REQUIREMENTS]
    for folder in (brand.domain, brand.data):
        files += sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml"))
    return files


def inputs_hash(brand: Brand) -> str:
    digest = hashlib.sha256()
    for path in training_inputs(brand):
        relative = path.relative_to(brand.root) if path.is_relative_to(brand.root) else path.name
        digest.update(str(relative).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def model_path(settings: Settings) -> Path:
    return settings.models_dir / f"{settings.brand.name}-{inputs_hash(settings.brand)}.tar.gz"


def current_model(settings: Settings) -> Path | None:
    path = model_path(settings)
    return path if path.exists() else None


def train(
    settings: Settings, force: bool = False, cache_dir: Path | None = None
) -> tuple[Path, float | None]:
    """Train if the inputs changed (or when forced). Returns the model and seconds spent
    (None when the model was already up to date). `cache_dir` replaces Rasa's training
    cache (an empty one measures a cold training)."""
    target = model_path(settings)
    if target.exists() and not force:
        return target, None
    rasa = settings.rasa_venv / "bin" / "rasa"
    if not rasa.exists():
        raise TrainingError(f"Rasa is not installed in {settings.rasa_venv}: run `make setup`")
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.logs_dir / "train.log"
    command = [
        str(rasa),
        "train",
        "--config",
        str(settings.brand.config),
        "--domain",
        str(settings.brand.domain),
        "--data",
        str(settings.brand.data),
        "--out",
        str(settings.models_dir),
        "--fixed-model-name",
        target.name.removesuffix(".tar.gz"),
    ]
    started = time.monotonic()
    with open(log_path, "w") as log:
        env = {**os.environ, **({"RASA_CACHE_DIRECTORY": str(cache_dir)} if cache_dir else {})}
        result = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0 or not target.exists():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise TrainingError(f"rasa train failed (exit code {result.returncode}); see {log_path}:\n{tail}")
    for old in settings.models_dir.glob(f"{settings.brand.name}-*.tar.gz"):
        if old != target and old.name.removesuffix(".tar.gz").rsplit("-", 1)[0] == settings.brand.name:
            old.unlink()  # keep one model per brand: the current one
    return target, time.monotonic() - started
