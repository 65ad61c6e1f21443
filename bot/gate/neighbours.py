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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from bot.core.settings import current_brand, get_settings

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class Opinion:
    """What the sentence embedding says about one message."""

    nn_intent: str  # intent of the nearest in-scope training example
    nn_similarity: float  # its cosine similarity
    ranking: list[tuple[str, float]]  # the embedding classifier's intents, best first


class Neighbours:
    """Cosine nearest neighbour over labelled examples (in-scope intents only), and an
    intent classifier on the same embeddings (every intent, out_of_scope included)."""

    def __init__(self, embeddings, examples: list[tuple[str, str]], matrix: np.ndarray | None = None):
        kept = [(text, intent) for text, intent in examples if text and intent != "nlu_fallback"]
        if not any(intent not in NOT_IN_SCOPE for _, intent in kept):
            raise ValueError("no in-scope training examples to compare messages with")
        self.embeddings = embeddings
        self.texts = [text for text, _ in kept]
        self.labels = np.array([intent for _, intent in kept])
        self.in_scope = ~np.isin(self.labels, list(NOT_IN_SCOPE))
        # a cached matrix of other examples (stale cache) is not used
        self.embedded = matrix is None or len(matrix) != len(self.texts)
        if self.embedded:
            matrix = np.asarray(embeddings.embed_documents(self.texts), dtype=np.float32)
        self.matrix = _normalised(matrix)
        self.intents = self.labels[self.in_scope]
        self._in_scope_matrix = self.matrix[self.in_scope]  # once, not a copy per message
        self._classifier: IntentClassifier | None = None

    @property
    def classifier(self) -> IntentClassifier:
        if self._classifier is None:
            self._classifier = IntentClassifier.fit(self.matrix, self.labels)
        return self._classifier

    def opinions(self, texts: list[str], ranking_length: int = 10) -> list[Opinion]:
        queries = _normalised(np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32))
        scores = queries @ self._in_scope_matrix.T
        best = scores.argmax(axis=1)
        rankings = self.classifier.rank(queries, ranking_length)
        return [
            Opinion(str(self.intents[i]), float(scores[row, i]), rankings[row]) for row, i in enumerate(best)
        ]

    def nearest_many(self, texts: list[str]) -> list[tuple[str, float]]:
        return [(o.nn_intent, o.nn_similarity) for o in self.opinions(texts)]

    def nearest(self, text: str) -> tuple[str, float]:
        return self.nearest_many([text])[0]


class IntentClassifier:
    """Softmax regression on normalised sentence embeddings: a second intent ranking, beside
    DIET's, from a model that has read far more text than the training examples. Full-batch
    Adam from zeros, so the same examples always give the same weights (a few seconds for
    15,000 examples on a CPU)."""

    TEMPERATURE = 10.0  # logits = TEMPERATURE * cosine-like scores + bias
    WEIGHT_DECAY = 1e-4
    STEPS = 300

    def __init__(self, classes: list[str], weights: np.ndarray, bias: np.ndarray):
        self.classes, self.weights, self.bias = classes, weights, bias

    @classmethod
    def fit(cls, matrix: np.ndarray, labels: np.ndarray) -> IntentClassifier:
        import torch

        classes = sorted(set(labels.tolist()))
        index = {c: k for k, c in enumerate(classes)}
        x = torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))
        y = torch.tensor([index[c] for c in labels.tolist()])
        weights = torch.zeros(x.shape[1], len(classes), requires_grad=True)
        bias = torch.zeros(len(classes), requires_grad=True)
        optimiser = torch.optim.Adam([weights, bias], lr=0.05)
        for _ in range(cls.STEPS):
            optimiser.zero_grad()
            logits = cls.TEMPERATURE * (x @ weights) + bias
            loss = torch.nn.functional.cross_entropy(logits, y) + cls.WEIGHT_DECAY * (weights**2).sum()
            loss.backward()
            optimiser.step()
        return cls(classes, weights.detach().numpy(), bias.detach().numpy())

    def probabilities(self, queries: np.ndarray) -> np.ndarray:
        logits = self.TEMPERATURE * (queries @ self.weights) + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def rank(self, queries: np.ndarray, length: int = 10) -> list[list[tuple[str, float]]]:
        probabilities = self.probabilities(queries)
        order = np.argsort(-probabilities, axis=1)[:, :length]
        return [
            [(self.classes[k], float(p[k])) for k in row] for p, row in zip(probabilities, order, strict=True)
        ]

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"classes": np.array(self.classes), "weights": self.weights, "bias": self.bias}

    @classmethod
    def from_arrays(cls, arrays) -> IntentClassifier:
        return cls([str(c) for c in arrays["classes"]], arrays["weights"], arrays["bias"])


def _normalised(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


_lock = threading.Lock()
_built: dict[tuple[str, Path], Neighbours] = {}


def nlu_neighbours(embeddings, model_name: str, nlu_dir: Path | None = None) -> Neighbours:
    """The assistant's training examples (the brand's data/nlu/), embedded once per process
    (and cached on disk per data and model). `embeddings` must be the model named `model_name`."""
    nlu_dir = nlu_dir or current_brand().nlu_dir
    with _lock:
        key = (model_name, nlu_dir)
        if key not in _built:
            _built[key] = _build(embeddings, model_name, nlu_dir)
        return _built[key]


CACHE_VERSION = "2"  # the examples' embeddings (out_of_scope too) and the classifier


def _build(embeddings, model_name: str, nlu_dir: Path) -> Neighbours:
    paths = sorted(nlu_dir.glob("*.yml"))
    examples = read_examples(paths)
    digest = hashlib.sha256(f"{CACHE_VERSION}:{model_name}".encode())
    for path in paths:
        digest.update(path.read_bytes())
    cache = get_settings().home / "cache" / f"neighbours-{digest.hexdigest()[:16]}.npz"
    stored = None
    if cache.exists():
        try:
            with np.load(cache) as arrays:
                stored = {key: arrays[key] for key in arrays.files}
        except (OSError, ValueError, KeyError):
            logger.warning("unreadable neighbours cache %s: embedding the examples again", cache)
    neighbours = Neighbours(embeddings, examples, stored["matrix"] if stored else None)
    if stored and not neighbours.embedded and "classes" in stored:
        neighbours._classifier = IntentClassifier.from_arrays(stored)
    else:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        with tmp.open("wb") as handle:
            np.savez(handle, matrix=neighbours.matrix, **neighbours.classifier.to_arrays())
        tmp.replace(cache)
        logger.info(
            "embedded %d NLU examples and fitted the embedding classifier for the gate", len(neighbours.texts)
        )
    return neighbours
