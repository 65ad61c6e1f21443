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
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adapters import base_model, decoding
from adapters.constrained import FactConstraint
from adapters.guards import SLOT, fitting_courtesy, missing_facts, placeholders, whole_sentences
from adapters.voice_data import NO_ANSWER, grounded_context, messages
from bot.core.settings import current_brand
from knowledge.spelling import slips

logger = logging.getLogger(__name__)


def load_voice_settings(path: Path | None = None) -> dict[str, Any]:
    """The brand's voice.yml (or the file at `path`). $TANDEM_KNOWLEDGE_ANSWERS (on or off)
    overrides `knowledge_answers: enabled` for one stack."""
    settings = yaml.safe_load((path or current_brand().voice_file).read_text()) or {}
    wanted = os.environ.get("TANDEM_KNOWLEDGE_ANSWERS", "").strip().lower()
    if wanted:
        if wanted not in SWITCH:
            raise ValueError(f"TANDEM_KNOWLEDGE_ANSWERS={wanted!r}: use on or off")
        settings["knowledge_answers"] = {
            **(settings.get("knowledge_answers") or {}),
            "enabled": SWITCH[wanted],
        }
    return settings


# part of the rephrasings' cache key: a change to their checks (check_rephrasing) writes them again
REPHRASE_CHECKS = 2
SWITCH = {"on": True, "1": True, "true": True, "off": False, "0": False, "false": False}


@dataclass
class Rephrasing:
    text: str  # what to send: the rephrasing, or the template when it failed
    rephrased: bool
    problems: list[str] = field(default_factory=list)
    cached: bool = False


class VoiceModel:
    def __init__(self, decoder, tokenizer, settings: dict[str, Any], adapter: str | None, model=None) -> None:
        self.decoder = decoder  # adapters.decoding: OnnxDecoder or TorchDecoder
        self.model = model  # the merged transformers model, when the decoder is torch
        self.tokenizer = tokenizer
        self.settings = settings
        self.adapter = adapter
        self.lock = threading.Lock()  # one generation at a time: the CPU is shared anyway
        digest = hashlib.sha256(repr((settings, adapter, _adapter_digest(adapter))).encode()).hexdigest()
        self.id = digest[:12]  # part of every cache key: another model or setting is not reused
        self.eos = {i for i in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")) if i}

    @classmethod
    def load(cls, settings: dict[str, Any] | None = None) -> VoiceModel:
        settings = settings or load_voice_settings()
        device = base_model.pick_device(settings.get("device", "auto"))
        base = settings.get("base_model", base_model.DEFAULT_BASE)
        adapter = settings.get("adapter")
        adapter_path = current_brand().path(adapter) if adapter else None  # relative: to the brand folder
        if not (adapter_path and (Path(adapter_path) / "adapter_config.json").exists()):
            logger.warning("no adapter at %s: the base model speaks without the brand's voice", adapter)
            adapter_path = None
        adapter_name = str(adapter_path) if adapter_path else None
        kind = decoder_kind(settings, device)
        if kind == "onnx":
            precision = str(settings.get("onnx_precision", "int8"))
            identity = [base, *base_model.identity(base), _adapter_digest(adapter_name)]
            folder = decoding.onnx_folder(base_model.cache_dir(), identity, precision)
            tokenizer = base_model.load_tokenizer(base)
            if not (folder / "genai_config.json").exists():
                logger.info("converting the voice model to ONNX (%s), once: about 20 s", precision)
                model, _ = _merged(settings, base, device, adapter_name)
                decoding.onnx_export(model, tokenizer, folder, precision)
                del model
            threads = settings.get("threads")
            voice = cls(
                decoding.OnnxDecoder(folder, int(threads) if threads else None),
                tokenizer,
                settings,
                adapter_name,
            )
        else:
            model, tokenizer = _merged(settings, base, device, adapter_name)
            voice = cls(decoding.TorchDecoder(model), tokenizer, settings, adapter_name, model)
        logger.info("voice model: %s, adapter %s, decoder %s", base, adapter_name, kind)
        return voice

    def generate(
        self,
        chat: list[dict[str, str]],
        constraint: FactConstraint | None = None,
        on_text: Callable[[str], None] | None = None,
        **overrides: Any,
    ) -> tuple[str, int, float]:
        """(text, new tokens, seconds), greedy with voice.yml's repetition penalty. With a
        `constraint`, no fact can be written that its sources do not have; `on_text` gets
        the reply as it is written."""
        decoded = self.decode(chat, constraint, on_text, **overrides)
        text = self.tokenizer.decode(decoded.tokens, skip_special_tokens=True).strip()
        return text, len(decoded.tokens), decoded.seconds

    def decode(
        self,
        chat: list[dict[str, str]],
        constraint: FactConstraint | None = None,
        on_text: Callable[[str], None] | None = None,
        **overrides: Any,
    ) -> decoding.Decoded:
        options = {**(self.settings.get("generation") or {}), **overrides}
        prompt = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        with self.lock:
            return decoding.greedy(
                self.decoder,
                ids,
                self.tokenizer,
                int(options.get("max_new_tokens", 64)),
                self.eos,
                float(options.get("repetition_penalty", 1.0)),
                constraint,
                on_text,
            )

    def reply(self, customer: str, context: str = "", **overrides: Any) -> str:
        return self.generate(messages(customer, context), **overrides)[0]

    # ---- knowledge answers ----------------------------------------------------------

    def knowledge_generator(self, on_text: Callable[[str], None] | None = None):
        """A knowledge.answer Generator: answer from the passages only, briefly; `on_text`
        gets the answer as it is written (drafts for the widget)."""
        options = self.settings.get("knowledge_answers") or {}

        def generate(question: str, passages: list[str], history: list[str], quoted: str = "") -> str:
            context = grounded_context(options.get("instruction", ""), passages, history, quoted)
            allowed = FactConstraint([*passages, question, *history], current_brand().product_names())
            text = self.reply(
                question,
                context,
                constraint=allowed,
                on_text=on_text,
                max_new_tokens=int(options.get("max_new_tokens", 48)),
            )
            if placeholders(text) or text.startswith(NO_ANSWER[:40]):
                return ""  # the extractive answer is used, or none (the gate decides)
            return fitting_courtesy(whole_sentences(text), question)

        return generate

    # ---- rephrasing scripted responses ----------------------------------------------

    def rephrase(self, template: str, values: list[str], similarity=None, cache=None) -> Rephrasing:
        """The template in the brand's voice, or the template itself when the rephrasing
        loses or adds a fact, keeps a placeholder, drifts in meaning or is too long.
        `similarity(a, b)`: cosine of two texts; `cache`: a Redis client."""
        options = self.settings.get("rephrase") or {}
        digest = hashlib.sha256(template.encode()).hexdigest()[:24]
        key = f"tandem:rephrase:{self.id}:{REPHRASE_CHECKS}:{digest}"
        if cache is not None:
            try:
                hit = cache.get(key)
            except Exception:  # a cache outage costs time, not the reply
                hit = None
            if hit is not None:
                text = hit.decode() if isinstance(hit, bytes) else hit
                return Rephrasing(text or template, bool(text), cached=True)
        context = options.get("instruction", "Rewrite this message in your own words.").strip()
        allowed = FactConstraint([template, *values], current_brand().product_names())
        text = self.reply(
            template, context, constraint=allowed, max_new_tokens=int(options.get("max_new_tokens", 64))
        )
        text = fitting_courtesy(whole_sentences(text), template)  # as a written answer: no cut closer
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

    def rephrase_template(
        self, template: str, examples: dict[str, Any], similarity=None, cache=None
    ) -> Rephrasing:
        """A response template with ``{slot}`` placeholders in the brand's voice, written once
        and then filled like the template itself, whatever the slots hold: the template is
        filled with `examples` (voice.yml ``rephrase.example_values``), rephrased and checked as
        a filled response is (`rephrase`), and each example value is put back as its
        placeholder. The template itself (``rephrased`` False) when a slot has no example
        value, when the values could be mistaken for one another or for the template's own
        words, when a value is not kept exactly as often as its placeholder, or when the
        rephrasing fails a check."""
        names = list(dict.fromkeys(SLOT.findall(template)))
        missing = [n for n in names if not str(examples.get(n) or "").strip()]
        if missing:
            return Rephrasing(template, False, [f"no example value for {', '.join(missing)}"])
        values = {n: str(examples[n]) for n in names}
        literal = SLOT.sub(" ", template)
        clashes = [
            n for n, v in values.items() if v in literal or any(v in w for m, w in values.items() if m != n)
        ]
        if clashes:
            return Rephrasing(template, False, [f"example values not told apart: {', '.join(clashes)}"])
        filled = SLOT.sub(lambda m: values[m.group(1)], template)
        done = self.rephrase(filled, list(values.values()), similarity, cache)
        if not done.rephrased:
            return Rephrasing(template, False, done.problems, done.cached)
        text = done.text
        uneven = [n for n, v in values.items() if text.count(v) != template.count("{" + n + "}")]
        if uneven:
            return Rephrasing(template, False, [f"not kept once each: {', '.join(uneven)}"], done.cached)
        for name, value in sorted(values.items(), key=lambda item: -len(item[1])):
            text = text.replace(value, "{" + name + "}")
        return Rephrasing(text, text != template, cached=done.cached)


def decoder_kind(settings: dict[str, Any], device: str) -> str:
    """voice.yml's `decoder`: onnx (ONNX Runtime GenAI, CPU), torch, or auto: onnx on a CPU
    when it is installed, torch on a GPU."""
    wanted = str(settings.get("decoder", "auto"))
    if wanted not in ("auto", "onnx", "torch"):
        raise base_model.BaseModelError(f"unknown decoder {wanted!r}: use auto, onnx or torch")
    if settings.get("generation", {}).get("do_sample"):
        raise base_model.BaseModelError("generation: do_sample is not offered: replies are greedy")
    if wanted == "auto":
        wanted = "onnx" if device == "cpu" and decoding.onnx_available() else "torch"
    if wanted == "onnx" and not decoding.onnx_available():
        raise base_model.BaseModelError("decoder: onnx needs onnxruntime-genai: run `make setup`")
    return wanted


def _merged(settings: dict[str, Any], base: str, device: str, adapter: str | None):
    """(the base model with the adapter merged into it, tokenizer)."""
    model, tokenizer = base_model.load(base, device, str(settings.get("dtype", "auto")))
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model.eval(), tokenizer


def check_rephrasing(
    template: str, text: str, values: list[str], options: dict[str, Any], similarity=None
) -> list[str]:
    """Why a rephrasing may not be sent (empty: it may)."""
    if not text.strip():
        return ["empty"]
    problems = missing_facts(template, text, values) + slips(template, text)
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
