"""The dense embedding model, built once per process (langchain-huggingface)."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np
from langchain_core.embeddings import Embeddings

logger = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def embedding_model(name_or_path: str, batch_size: int = 32) -> Embeddings:
    """A sentence-transformers model by Hugging Face name or local path, loaded once per
    process. Offline unless HF_HUB_OFFLINE=0 is set: the default model ships inside a
    Python package."""
    return load_embedding_model(name_or_path, batch_size)


def load_embedding_model(name_or_path: str, batch_size: int = 32) -> Embeddings:
    """A fresh copy of the model (the benchmark's tuned models are loaded once each)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from langchain_huggingface import HuggingFaceEmbeddings

    try:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        device = "cpu"
    try:
        return Remembered(
            HuggingFaceEmbeddings(
                model_name=name_or_path,
                model_kwargs={"device": device},
                encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
            )
        )
    except OSError as error:
        raise RuntimeError(
            f"cannot load the embedding model {name_or_path!r} ({error}). Give a local path or, with hub "
            "access, a model name and HF_HUB_OFFLINE=0 (TANDEM_EMBEDDING_MODEL)"
        ) from None


class Remembered(Embeddings):
    """The model, remembering the vectors of the texts it embedded last. One knowledge turn
    embeds the question three times (search, the nearest NLU example, the choice of the
    sentences to quote) and the same passage sentences turn after turn; each forward pass
    costs milliseconds on a CPU. Thread-safe; least recently used texts are forgotten."""

    def __init__(self, model: Embeddings, size: int = 4096):
        self.model, self.size = model, size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()  # float32: 1.5 KB at 384
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        unique = list(dict.fromkeys(texts))
        with self._lock:  # take what is remembered now; another thread may forget it later
            found = {t: self._vectors[t] for t in unique if t in self._vectors}
        missing = [t for t in unique if t not in found]
        if missing:
            vectors = self.model.embed_documents(missing)
            found.update((t, np.asarray(v, dtype=np.float32)) for t, v in zip(missing, vectors, strict=True))
        with self._lock:
            for text in unique:
                self._vectors[text] = found[text]
                self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return [found[t].tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    def forget(self) -> None:
        """Forget every remembered vector (a benchmark that must time the model)."""
        with self._lock:
            self._vectors.clear()
