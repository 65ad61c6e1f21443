"""The dense embedding model, built once per process (langchain-huggingface)."""

from __future__ import annotations

import logging
import os
from functools import lru_cache

from langchain_core.embeddings import Embeddings

logger = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def embedding_model(name_or_path: str, batch_size: int = 32) -> Embeddings:
    """A sentence-transformers model by Hugging Face name or local path. Offline unless
    HF_HUB_OFFLINE=0 is set: the default model ships inside a Python package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from langchain_huggingface import HuggingFaceEmbeddings

    try:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        device = "cpu"
    try:
        return HuggingFaceEmbeddings(
            model_name=name_or_path,
            model_kwargs={"device": device},
            encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
        )
    except OSError as error:
        raise RuntimeError(
            f"cannot load the embedding model {name_or_path!r} ({error}). Give a local path or, with hub "
            "access, a model name and HF_HUB_OFFLINE=0 (TANDEM_EMBEDDING_MODEL)"
        ) from None
