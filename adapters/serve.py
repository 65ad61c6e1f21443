"""The voice model at run time: base model plus the brand's adapter, merged, loaded once.

Settings are data (the brand's voice.yml): which adapter, generation settings, and whether
the model writes knowledge answers and rephrases the responses marked for it. What it
writes is checked before use: a knowledge answer by knowledge.verify (in knowledge.answer),
a rephrasing by adapters.guards (every fact and slot value kept, no placeholder, close in
meaning to the template); on a miss the template is sent as written.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adapters import base_model
from adapters.guards import missing_facts, placeholders
from adapters.voice_data import messages
from bot.core.settings import current_brand

logger = logging.getLogger(__name__)


def load_voice_settings(path: Path | None = None) -> dict[str, Any]:
    """The brand's voice.yml (or the file at `path`)."""
    return yaml.safe_load((path or current_brand().voice_file).read_text()) or {}


@dataclass
class Rephrasing:
    text: str  # what to send: the rephrasing, or the template when it failed
    rephrased: bool
    problems: list[str] = field(default_factory=list)
    cached: bool = False


class VoiceModel:
    def __init__(self, model, tokenizer, settings: dict[str, Any], adapter: str | None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        self.adapter = adapter
        self.lock = threading.Lock()  # one generation at a time: the CPU is shared anyway
        digest = hashlib.sha256(repr((settings, adapter, _adapter_digest(adapter))).encode()).hexdigest()
        self.id = digest[:12]  # part of every cache key: another model or setting is not reused

    @classmethod
    def load(cls, settings: dict[str, Any] | None = None) -> VoiceModel:
        settings = settings or load_voice_settings()
        device = base_model.pick_device(settings.get("device", "auto"))
        model, tokenizer = base_model.load(
            settings.get("base_model", base_model.DEFAULT_BASE), device, str(settings.get("dtype", "auto"))
        )
        adapter = settings.get("adapter")
        adapter_path = current_brand().path(adapter) if adapter else None  # relative: to the brand folder
        if adapter_path and (Path(adapter_path) / "adapter_config.json").exists():
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_path)).merge_and_unload()
            logger.info("voice model: %s with adapter %s, merged", settings.get("base_model"), adapter)
        else:
            logger.warning("no adapter at %s: the base model speaks without the brand's voice", adapter)
            adapter_path = None
        model.eval()
        return cls(model, tokenizer, settings, str(adapter_path) if adapter_path else None)

    def generate(self, chat: list[dict[str, str]], **overrides: Any) -> tuple[str, int, float]:
        """(text, new tokens, seconds), with the generation settings of voice.yml."""
        import torch

        options = {**(self.settings.get("generation") or {}), **overrides}
        prompt = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.model.device)
        started = time.monotonic()
        with self.lock, torch.no_grad():
            output = self.model.generate(
                **inputs,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
                **options,
            )
        new = output[0, inputs["input_ids"].shape[1] :]
        text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        return text, len(new), time.monotonic() - started

    def reply(self, customer: str, context: str = "", **overrides: Any) -> str:
        return self.generate(messages(customer, context), **overrides)[0]

    # ---- knowledge answers ----------------------------------------------------------

    def knowledge_generator(self):
        """A knowledge.answer Generator: answer from the passages only, briefly."""
        options = self.settings.get("knowledge_answers") or {}

        def generate(question: str, passages: list[str], history: list[str]) -> str:
            context = options.get("instruction", "").strip() + "\n\n" + "\n\n".join(passages)
            if history:
                context += "\n\nEarlier in this conversation the customer asked: " + " / ".join(history[:2])
            text = self.reply(
                question, context.strip(), max_new_tokens=int(options.get("max_new_tokens", 48))
            )
            return "" if placeholders(text) else text  # empty: the extractive answer is used

        return generate

    # ---- rephrasing scripted responses ----------------------------------------------

    def rephrase(self, template: str, values: list[str], similarity=None, cache=None) -> Rephrasing:
        """The template in the brand's voice, or the template itself when the rephrasing
        loses or adds a fact, keeps a placeholder, drifts in meaning or is too long.
        `similarity(a, b)`: cosine of two texts; `cache`: a Redis client."""
        options = self.settings.get("rephrase") or {}
        key = f"tandem:rephrase:{self.id}:{hashlib.sha256(template.encode()).hexdigest()[:24]}"
        if cache is not None:
            try:
                hit = cache.get(key)
            except Exception:  # a cache outage costs time, not the reply
                hit = None
            if hit is not None:
                text = hit.decode() if isinstance(hit, bytes) else hit
                return Rephrasing(text or template, bool(text), cached=True)
        context = options.get("instruction", "Rewrite this message in your own words.").strip()
        text = self.reply(template, context, max_new_tokens=int(options.get("max_new_tokens", 64)))
        problems = check_rephrasing(template, text, values, options, similarity)
        result = Rephrasing(template if problems else text, not problems, problems)
        if problems:
            logger.info("rephrasing rejected (%s): %r", "; ".join(problems), text)
        if cache is not None:
            try:
                cache.set(key, "" if problems else text, ex=int(options.get("cache_seconds", 30 * 86400)))
            except Exception:
                logger.warning("could not cache a rephrasing", exc_info=True)
        return result


def check_rephrasing(
    template: str, text: str, values: list[str], options: dict[str, Any], similarity=None
) -> list[str]:
    """Why a rephrasing may not be sent (empty: it may)."""
    if not text.strip():
        return ["empty"]
    problems = missing_facts(template, text, values)
    if placeholders(text) and not any(p.startswith("placeholder") for p in problems):
        problems.append("placeholder")
    if len(text) > float(options.get("max_length_ratio", 2.0)) * len(template) + 40:
        problems.append("too long")
    if similarity is not None:
        score = similarity(template, text)
        if score < float(options.get("min_similarity", 0.75)):
            problems.append(f"meaning drifted (similarity {score:.2f})")
    return problems


def _adapter_digest(adapter: str | None) -> str:
    if not adapter:
        return ""
    path = Path(adapter) / "adapter_model.safetensors"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else ""


_voice: VoiceModel | None = None
_voice_lock = threading.Lock()


def voice_model() -> VoiceModel:
    """The process's voice model, loaded on first use."""
    global _voice
    with _voice_lock:
        if _voice is None:
            _voice = VoiceModel.load()
        return _voice


def loaded_voice_model() -> VoiceModel | None:
    """The voice model if it is already loaded (a turn never waits for the load)."""
    return _voice
