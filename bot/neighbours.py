"""The gate's second NLU opinion: the nearest NLU training example to a message.

Rasa's classifier spreads a message it has never seen anything like over the known
intents; a sentence embedding tells how far the message is from *every* example. The
nearest in-scope example gives an intent and a cosine similarity: far from all of them
means out of scope, very close means the intent even when the classifier hesitates.

It runs in the action server (Python 3.11, the knowledge base's embedding model is
already loaded), so nothing heavy goes into the Rasa process. The examples' embeddings
are cached on disk, keyed by the NLU data and the model.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import yaml

from bot.settings import BOT_DIR, get_settings

logger = logging.getLogger(__name__)

NLU_DIR = BOT_DIR / "data" / "nlu"
NOT_IN_SCOPE = frozenset({"out_of_scope", "nlu_fallback"})
_ANNOTATION = re.compile(r"\[([^\]]+)\]\([a-z_]+\)")


def strip_annotations(example: str) -> str:
    """``track [BB-100019](order_number)`` -> ``track BB-100019``."""
    return _ANNOTATION.sub(r"\1", example).strip()


def read_examples(paths: Iterable[Path]) -> list[tuple[str, str]]:
    """(text, intent) of every intent example in Rasa NLU YAML files."""
    rows: list[tuple[str, str]] = []
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in data.get("nlu") or []:
            if "intent" not in item:
                continue
            for line in str(item.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    rows.append((strip_annotations(line[2:]), item["intent"]))
    return rows


class Neighbours:
    """Cosine nearest neighbour over labelled examples (in-scope intents only)."""

    def __init__(self, embeddings, examples: list[tuple[str, str]], matrix: np.ndarray | None = None):
        kept = [(text, intent) for text, intent in examples if intent not in NOT_IN_SCOPE and text]
        if not kept:
            raise ValueError("no in-scope training examples to compare messages with")
        self.embeddings = embeddings
        self.texts = [text for text, _ in kept]
        self.intents = np.array([intent for _, intent in kept])
        # a cached matrix of other examples (stale cache) is not used
        self.embedded = matrix is None or len(matrix) != len(self.texts)
        if self.embedded:
            matrix = np.asarray(embeddings.embed_documents(self.texts), dtype=np.float32)
        self.matrix = _normalised(matrix)

    def nearest_many(self, texts: list[str]) -> list[tuple[str, float]]:
        queries = _normalised(np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32))
        scores = queries @ self.matrix.T
        best = scores.argmax(axis=1)
        return [(str(self.intents[i]), float(scores[row, i])) for row, i in enumerate(best)]

    def nearest(self, text: str) -> tuple[str, float]:
        return self.nearest_many([text])[0]


def _normalised(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


_lock = threading.Lock()
_built: dict[tuple[str, Path], Neighbours] = {}


def nlu_neighbours(embeddings, model_name: str, nlu_dir: Path = NLU_DIR) -> Neighbours:
    """The assistant's training examples, embedded once per process (and cached on disk per
    data and model). `embeddings` must be the model named `model_name`."""
    with _lock:
        key = (model_name, nlu_dir)
        if key not in _built:
            _built[key] = _build(embeddings, model_name, nlu_dir)
        return _built[key]


def _build(embeddings, model_name: str, nlu_dir: Path) -> Neighbours:
    paths = sorted(nlu_dir.glob("*.yml"))
    examples = read_examples(paths)
    digest = hashlib.sha256(model_name.encode())
    for path in paths:
        digest.update(path.read_bytes())
    cache = get_settings().home / "cache" / f"neighbours-{digest.hexdigest()[:16]}.npy"
    matrix = None
    if cache.exists():
        try:
            matrix = np.load(cache)
        except (OSError, ValueError):
            logger.warning("unreadable neighbours cache %s: embedding the examples again", cache)
    neighbours = Neighbours(embeddings, examples, matrix)
    if neighbours.embedded:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, neighbours.matrix)
        tmp.replace(cache)
        logger.info("embedded %d NLU examples for the gate's nearest-neighbour signal", len(neighbours.texts))
    return neighbours
