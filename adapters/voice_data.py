"""The brand's voice examples: reading, checking, and turning them into chat-formatted tokens.

One JSONL format, a line per example::

    {"customer": "where is my order?", "reply": "I'm here to help ...",
     "context": "optional text shown to the model before the message", "id": "...", "intent": "..."}

Training and serving build the prompt the same way (:func:`messages`), so the adapter sees
at run time exactly what it learnt from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from bot.core.settings import current_brand

# the grounded reply when no passage answers (bot/seed/grounded.py teaches it; the
# knowledge generator treats it as no answer, and the gate decides what to do)
NO_ANSWER = (
    "I'm sorry, our help pages don't cover that. Would you like me to connect you with someone from our team?"
)


def grounded_context(instruction: str, passages: list[str], history: list[str] = (), quoted: str = "") -> str:
    """What the model is shown before the customer's question for a knowledge answer: the
    instruction, the passages, the passages' sentences that answer (`quoted`, the extractive
    answer knowledge.answer.quote picks: the written answer must keep its facts and say
    what it says), and the customer's earlier questions (the action server and the grounded
    training examples, bot/seed/grounded.py, build it the same way)."""
    context = instruction.strip() + "\n\n" + "\n\n".join(passages)
    if quoted:
        context += "\n\nThe passages answer it with: " + quoted.strip()
    if history:
        context += "\n\nEarlier in this conversation the customer asked: " + " / ".join(history[:2])
    return context.strip()


class VoiceDataError(ValueError):
    """A voice-example file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    customer: str
    reply: str
    context: str = ""
    id: str = ""
    intent: str = ""


def read_examples(path: Path | str) -> list[Example]:
    path = Path(path)
    if not path.exists():
        raise VoiceDataError(f"{path}: no such file")
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise VoiceDataError(f"{path}:{number}: not JSON ({error.msg})") from None
        if (
            not isinstance(row, dict)
            or not str(row.get("customer", "")).strip()
            or not str(row.get("reply", "")).strip()
        ):
            raise VoiceDataError(f"{path}:{number}: needs non-empty `customer` and `reply`")
        examples.append(
            Example(
                customer=str(row["customer"]).strip(),
                reply=str(row["reply"]).strip(),
                context=str(row.get("context") or "").strip(),
                id=str(row.get("id") or f"{path.stem}-{number}"),
                intent=str(row.get("intent") or ""),
            )
        )
    if not examples:
        raise VoiceDataError(f"{path}: no examples")
    return examples


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def system_prompt(brand: dict | None = None) -> str:
    brand = brand or current_brand().facts()
    return (
        f"You are {brand['name']}'s customer support assistant. Answer the customer helpfully, "
        f"politely and briefly, in {brand['name']}'s voice."
    )


def messages(customer: str, context: str = "", system: str | None = None) -> list[dict[str, str]]:
    """The chat messages before the reply: system, then the customer (with any context)."""
    user = f"{context}\n\n{customer}" if context else customer
    return [{"role": "system", "content": system or system_prompt()}, {"role": "user", "content": user}]


def encode(tokenizer, example: Example, max_length: int, system: str | None = None) -> dict | None:
    """Token ids and labels of one example; the loss is on the reply tokens only.

    The reply is cut to fit ``max_length``; an example whose prompt alone leaves fewer than
    16 tokens for the reply is skipped (None).
    """
    prompt = tokenizer.apply_chat_template(
        messages(example.customer, example.context, system), tokenize=False, add_generation_prompt=True
    )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(example.reply, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    room = max_length - len(prompt_ids)
    if room < 16:
        return None
    reply_ids = reply_ids[:room]
    return {
        "input_ids": prompt_ids + reply_ids,
        "labels": [-100] * len(prompt_ids) + reply_ids,
    }


def collate(batch: list[dict], pad_id: int):
    import torch

    width = max(len(item["input_ids"]) for item in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, item in enumerate(batch):
        n = len(item["input_ids"])
        ids[row, :n] = torch.tensor(item["input_ids"])
        labels[row, :n] = torch.tensor(item["labels"])
        mask[row, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


REPHRASE_HELDOUT_PERCENT = 20  # of the brand's responses, whose rephrasing examples are held out


def rephrase_heldout(response: str) -> bool:
    """Whether a response's rephrasing examples are held out of training (bot/seed/rephrase.py
    writes them apart; `tandem bench adapter` reports these responses apart), by a hash of its
    name: a response's examples go together."""
    import hashlib

    return int(hashlib.sha256(response.encode()).hexdigest(), 16) % 100 < REPHRASE_HELDOUT_PERCENT
