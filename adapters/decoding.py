"""The voice model's decoders, and the one greedy loop both of them run.

- :class:`OnnxDecoder`: ONNX Runtime GenAI on the CPU, the merged model converted once by its
  model builder with int8 weights. Measured on this 2-core CPU
  (docs/benchmarks/experiments/decode_backends.md): 87 tokens/s against 13.7 for
  transformers eager in float32, held-out perplexity +0.17%.
- :class:`TorchDecoder`: transformers with a KV cache; on a GPU, or where ONNX Runtime GenAI
  is missing.

:func:`greedy` picks every token itself (the repetition penalty as transformers applies
it, then the best token that a :class:`~adapters.constrained.FactConstraint` permits), so
both decoders write the same way, and each new piece of text can be streamed as it is
written.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from adapters.constrained import FactConstraint

logger = logging.getLogger(__name__)

CANDIDATES = 48  # the best tokens tried, in order, against the constraint before giving up


class Step(Protocol):
    logits: np.ndarray  # the next token's scores (vocabulary,)

    def advance(self, token: int) -> None: ...


class Decoder(Protocol):
    name: str

    def open(self, ids: list[int], max_new_tokens: int) -> Step: ...

    def scores(self, ids: list[int]) -> np.ndarray:
        """The next-token scores at every position (len(ids), vocabulary): for perplexity."""
        ...


@dataclass
class Decoded:
    tokens: list[int]
    seconds: float
    first_token_seconds: float
    refused: int = 0  # tokens the constraint refused (the model's first choice was not allowed)
    stopped_by_constraint: bool = False


def greedy(
    decoder: Decoder,
    prompt: list[int],
    tokenizer: Any,
    max_new_tokens: int,
    eos: Iterable[int],
    repetition_penalty: float = 1.0,
    constraint: FactConstraint | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Decoded:
    """The most likely reply, token by token. With a `constraint`, each token is the most
    likely one that keeps every fact copied (tried best first); when none of the best
    `CANDIDATES` is allowed, the reply ends. `on_text(delta)` gets the text as it grows."""
    eos = set(eos)
    started = time.perf_counter()
    step = decoder.open(prompt, max_new_tokens)
    seen = np.fromiter(dict.fromkeys(prompt), dtype=np.int64)
    out: list[int] = []
    shown = ""
    first = 0.0
    refused = 0
    stopped = False
    for _ in range(max_new_tokens):
        scores = np.array(step.logits, dtype=np.float32)
        if repetition_penalty != 1.0 and seen.size:
            picked = scores[seen]
            scores[seen] = np.where(picked < 0, picked * repetition_penalty, picked / repetition_penalty)
        token, skipped = _choose(scores, out, tokenizer, eos, constraint)
        refused += skipped
        first = first or time.perf_counter() - started
        if token is None:
            stopped = True
            break
        if token in eos:
            break
        out.append(token)
        if token not in seen:
            seen = np.append(seen, token)
        if on_text is not None:
            text = tokenizer.decode(out, skip_special_tokens=True)
            if not text.endswith("\ufffd") and len(text) > len(shown):  # not half a character
                on_text(text[len(shown) :])
                shown = text
        if len(out) < max_new_tokens:
            step.advance(token)
    if constraint is not None:  # cut short (no allowed token, or the length): no half fact at the end
        while out and not constraint.permits(tokenizer.decode(out, skip_special_tokens=True), final=True):
            out.pop()
    return Decoded(out, time.perf_counter() - started, first, refused, stopped)


def _choose(
    scores: np.ndarray, out: list[int], tokenizer: Any, eos: set[int], constraint: FactConstraint | None
) -> tuple[int | None, int]:
    """(the token to write, how many better ones the constraint refused); None: none allowed."""
    if constraint is None:
        return int(np.argmax(scores)), 0
    count = min(CANDIDATES, scores.size)
    best = np.argpartition(-scores, count - 1)[:count]
    for tried, token in enumerate(best[np.argsort(-scores[best])].tolist()):
        if token in eos:
            allowed = constraint.permits(tokenizer.decode(out, skip_special_tokens=True), final=True)
        else:
            allowed = constraint.permits(tokenizer.decode([*out, token], skip_special_tokens=True))
        if allowed:
            return token, tried
    return None, count


# ---- transformers ----------------------------------------------------------------------


class TorchDecoder:
    name = "torch"

    def __init__(self, model) -> None:
        self.model = model.eval()

    def open(self, ids: list[int], max_new_tokens: int) -> Step:
        return _TorchStep(self.model, ids)

    def scores(self, ids: list[int]) -> np.ndarray:
        import torch

        with torch.no_grad():
            return (
                self.model(input_ids=torch.tensor([ids], device=self.model.device))
                .logits[0]
                .float()
                .cpu()
                .numpy()
            )


class _TorchStep:
    def __init__(self, model, ids: list[int]) -> None:
        import torch

        self.model, self.torch = model, torch
        # transformers 5 calls the KV cache `cache`; 4.x called it `past_key_values`
        self.cache_name = (
            "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        )
        self.past = None
        self._run(ids)

    def _run(self, ids: list[int]) -> None:
        torch = self.torch
        with torch.no_grad():
            result = self.model(
                input_ids=torch.tensor([ids], device=self.model.device),
                use_cache=True,
                **{self.cache_name: self.past},
            )
        self.past = getattr(result, self.cache_name)
        self.logits = result.logits[0, -1].float().cpu().numpy()

    def advance(self, token: int) -> None:
        self._run([token])


# ---- ONNX Runtime GenAI ------------------------------------------------------------------

PRECISIONS = ("int8", "fp32")


class OnnxDecoder:
    name = "onnx"

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        import onnxruntime_genai as og

        self.og = og
        self.folder = folder
        config = og.Config(str(folder))
        threads = threads or min(os.cpu_count() or 1, 4)
        options = {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
        config.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
        self.model = og.Model(config)

    def open(self, ids: list[int], max_new_tokens: int) -> Step:
        return _OnnxStep(self, ids, max_new_tokens)

    def scores(self, ids: list[int]) -> np.ndarray:
        params = self.og.GeneratorParams(self.model)
        params.set_search_options(max_length=len(ids) + 1)
        generator = self.og.Generator(self.model, params)
        generator.append_tokens(ids)
        return np.asarray(generator.get_output("logits"), dtype=np.float32)[0]


class _OnnxStep:
    def __init__(self, decoder: OnnxDecoder, ids: list[int], max_new_tokens: int) -> None:
        og = decoder.og
        params = og.GeneratorParams(decoder.model)
        params.set_search_options(max_length=len(ids) + max_new_tokens + 1)
        self.generator = og.Generator(decoder.model, params)
        self.generator.append_tokens(ids)
        self._read()

    def _read(self) -> None:
        self.logits = np.asarray(self.generator.get_logits()).reshape(-1)

    def advance(self, token: int) -> None:
        self.generator.append_tokens([token])
        self._read()


def onnx_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime_genai") is not None


def onnx_export(model, tokenizer, target: Path, precision: str = "int8") -> Path:
    """The (merged) model converted by ONNX Runtime GenAI's model builder into `target`,
    atomically; about 15 s for the 135M model."""
    import torch
    from transformers import AutoModelForCausalLM

    if precision not in PRECISIONS:
        raise ValueError(f"unknown ONNX precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        # a model loaded from the GGUF conversion keeps a quantization_config that the
        # builder would follow: save a fresh copy of the same weights
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        fresh.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
        fresh.save_pretrained(work / "merged")
        tokenizer.save_pretrained(work / "merged")
        command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(work / "merged")]
        command += ["-o", str(work / "onnx"), "-p", precision, "-e", "cpu", "-c", str(work / "cache")]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"the ONNX model builder failed: {done.stderr.strip()[-2000:]}")
        if target.exists():
            shutil.rmtree(target)
        (work / "onnx").rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def onnx_folder(cache: Path, identity: Iterable[str], precision: str) -> Path:
    """Where the ONNX conversion of a model (named by `identity`: base model, adapter
    digest) is kept."""
    import onnxruntime_genai as og

    digest = hashlib.sha256(repr((*identity, precision, og.__version__)).encode()).hexdigest()[:16]
    return cache / "onnx" / f"{digest}-{precision}"
