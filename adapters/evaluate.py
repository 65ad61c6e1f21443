"""Measure the voice: base model against base plus adapter, on held-out replies.

- perplexity of the team's real replies (reply tokens only, the prompt as in training);
- voice similarity: mean cosine, in all-MiniLM-L6-v2's embedding space, between the reply
  each model generates (greedy) and the team's real reply to the same message;
- leftover placeholders in what each model generates;
- a side-by-side Markdown report of sample generations.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from adapters import base_model
from adapters.guards import placeholders
from adapters.voice_data import Example, collate, encode, messages, system_prompt

GENERATION = {"max_new_tokens": 96, "do_sample": False, "repetition_penalty": 1.1}


def perplexity(model, tokenizer, examples: list[Example], max_length: int, batch_size: int = 8) -> float:
    import torch

    system = system_prompt()
    encoded = [e for e in (encode(tokenizer, x, max_length, system) for x in examples) if e]
    total_nll, total_tokens = 0.0, 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            batch = collate(encoded[start : start + batch_size], tokenizer.pad_token_id)
            batch = {k: v.to(model.device) for k, v in batch.items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            shift_logits = logits[:, :-1].float()
            shift_labels = batch["labels"][:, 1:]
            nll = torch.nn.functional.cross_entropy(
                shift_logits.reshape(-1, shift_logits.size(-1)),
                shift_labels.reshape(-1),
                ignore_index=-100,
                reduction="sum",
            )
            total_nll += float(nll)
            total_tokens += int((shift_labels != -100).sum())
    return math.exp(total_nll / max(1, total_tokens))


def decoder_perplexity(decoder, tokenizer, examples: list[Example], max_length: int) -> float:
    """Held-out perplexity through a decoder of adapters.decoding (ONNX or torch), one
    example per pass: the same figure as `perplexity` for the weights the product serves."""
    import numpy as np

    system = system_prompt()
    total, count = 0.0, 0
    for example in examples:
        encoded = encode(tokenizer, example, max_length, system)
        if not encoded:
            continue
        logits = decoder.scores(encoded["input_ids"])[:-1].astype(np.float64)
        labels = np.asarray(encoded["labels"][1:])
        scored = labels != -100
        logits, labels = logits[scored], labels[scored]
        top = logits.max(axis=1)
        log_z = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
        total += float((log_z - logits[np.arange(len(labels)), labels]).sum())
        count += len(labels)
    return math.exp(total / max(1, count))


def generate_many(
    model, tokenizer, chats: list[list[dict[str, str]]], settings: dict | None = None, batch_size: int = 16
) -> list[str]:
    """Greedy replies to many chats, batched with left padding (several times the
    throughput of one at a time on a CPU)."""
    import torch

    settings = {**GENERATION, **(settings or {})}
    prompts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths together
    replies: dict[int, str] = {}
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in range(0, len(order), batch_size):
            picked = order[start : start + batch_size]
            inputs = tokenizer(
                [prompts[i] for i in picked], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(model.device)
            with torch.no_grad():
                output = model.generate(
                    **inputs,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                    **settings,
                )
            for row, i in enumerate(picked):
                new = output[row, inputs["input_ids"].shape[1] :]
                replies[i] = tokenizer.decode(new, skip_special_tokens=True).strip()
    finally:
        tokenizer.padding_side = side
    return [replies[i] for i in range(len(prompts))]


def similarity(embedder, generated: list[str], real: list[str]) -> list[float]:
    import numpy as np

    a = np.asarray(embedder.embed_documents(generated))
    b = np.asarray(embedder.embed_documents(real))
    a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-12
    b /= np.linalg.norm(b, axis=1, keepdims=True) + 1e-12
    return [float(x) for x in (a * b).sum(axis=1)]


def evaluate(
    adapter_dir: Path,
    data: list[Example],
    samples: int = 0,
    max_length: int = 256,
    base: str | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """Both models on `data`: perplexity on all of it, generations on the first `samples`
    (0: all), and the rephrasing audit of the adapter on the team's replies."""
    from peft import PeftModel

    from knowledge.config import KnowledgeSettings
    from knowledge.embeddings import embedding_model

    base = base or _adapter_base(adapter_dir)
    model, tokenizer = base_model.load(base, device)
    model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    picked = data[:samples] if samples else data
    result: dict = {"adapter": {}, "base": {}, "examples": len(data), "samples": len(picked)}
    chats = [messages(x.customer, x.context) for x in picked]
    generations: dict[str, list[str]] = {}
    for name in ("base", "adapter"):
        started = time.monotonic()
        _say(progress, f"{name}: perplexity on {len(data)} replies, then {len(chats)} generations")
        if name == "base":
            with model.disable_adapter():
                ppl = perplexity(model, tokenizer, data, max_length)
                generations[name] = generate_many(model, tokenizer, chats)
        else:
            ppl = perplexity(model, tokenizer, data, max_length)
            generations[name] = generate_many(model, tokenizer, chats)
        result[name] = {
            "perplexity": round(ppl, 3),
            "placeholders": sum(bool(placeholders(t)) for t in generations[name]),
            "seconds": round(time.monotonic() - started, 1),
        }
    embedder = embedding_model(KnowledgeSettings().embedding_model)
    real = [x.reply for x in picked]
    for name in ("base", "adapter"):
        scores = similarity(embedder, generations[name], real)
        result[name]["similarity"] = round(sum(scores) / max(1, len(scores)), 4)
        result[name]["similarities"] = [round(s, 4) for s in scores]
    result["perplexity_reduction"] = round(
        1 - result["adapter"]["perplexity"] / result["base"]["perplexity"], 4
    )
    result["similarity_gain"] = round(result["adapter"]["similarity"] - result["base"]["similarity"], 4)
    result["generations"] = [
        {"id": x.id, "customer": x.customer, "reply": x.reply, "base": b, "adapter": a}
        for x, b, a in zip(picked, generations["base"], generations["adapter"], strict=True)
    ]
    _say(progress, f"rephrasing audit on {len(picked)} replies")
    result["rephrasing"] = rephrasing_audit(model, tokenizer, [x.reply for x in picked], embedder)
    return result


def grounded_audit(voice, rows: list[dict], min_support: float, product_names=(), similarity=None) -> dict:
    """The grounded job on held-out examples (bot/seed/grounded.py): each question with its
    passages, answered as the action server asks (constrained decoding), then checked by the
    independent verifier. Counted: answers that pass, answers that carry every fact of the
    reference reply, declines where no passage answers, and facts not in the passages."""
    from knowledge.verify import facts, verify

    generate = voice.knowledge_generator()
    passed = complete = declined = answerable = unanswerable = invented = 0
    seconds, samples = [], []
    for row in rows:
        started = time.monotonic()
        text = generate(row["customer"], row["passages"], [], row.get("quote", ""))
        seconds.append(time.monotonic() - started)
        verdict = verify(text, row["passages"], min_support, product_names, similarity) if text else None
        if row.get("intent") == "grounded:no-answer":
            unanswerable += 1
            declined += not text  # the generator's NO_ANSWER comes back empty
        else:
            answerable += 1
            passed += bool(verdict and verdict.ok)
            wanted = {f.key for f in facts(row["reply"])}
            complete += bool(text) and wanted <= {f.key for f in facts(text)}
        invented += bool(verdict and verdict.unsupported_facts)
        samples.append(
            {
                "question": row["customer"],
                "reference": row["reply"],
                "answer": text,
                "passed": bool(verdict and verdict.ok),
            }
        )
    return {
        "answerable": answerable,
        "passed_verification": passed,
        "with_every_reference_fact": complete,
        "unanswerable": unanswerable,
        "declined": declined,
        "answers_with_unsupported_facts": invented,
        "seconds_p50": round(sorted(seconds)[len(seconds) // 2], 2) if seconds else None,
        "samples": samples,
    }


def first_sentences(text: str, limit: int = 220) -> str:
    """The opening of a reply, whole sentences up to `limit` characters: a template-sized text."""
    from knowledge.verify import sentences

    out = ""
    for sentence in sentences(text):
        if out and len(out) + len(sentence) > limit:
            break
        out = f"{out} {sentence}".strip()
    return out


def rephrasing_audit(model, tokenizer, replies: list[str], embedder) -> dict:
    """Rephrase the opening of each reply as the serving path does, apply its checks, and
    count what would be sent; `dropped_facts_sent` must be 0 by construction, and is
    recomputed here on what would be sent."""
    from adapters.guards import missing_facts
    from adapters.serve import check_rephrasing, load_voice_settings

    options = load_voice_settings().get("rephrase") or {}
    instruction = options.get("instruction", "").strip()
    templates = [first_sentences(r) for r in replies]
    chats = [messages(t, instruction) for t in templates]
    texts = generate_many(model, tokenizer, chats, {"max_new_tokens": int(options.get("max_new_tokens", 64))})
    scores = similarity(embedder, templates, texts)
    sent_rephrased, reasons, dropped, leftover = 0, {}, 0, 0
    for template, text, score in zip(templates, texts, scores, strict=True):
        problems = check_rephrasing(template, text, [], options, lambda a, b, s=score: s)
        sent = template if problems else text
        sent_rephrased += not problems
        for problem in problems:
            reason = problem.split(" ")[0]
            reasons[reason] = reasons.get(reason, 0) + 1
        dropped += any(p.startswith("lost") for p in missing_facts(template, sent))
        leftover += bool(placeholders(sent))
    return {
        "templates": len(templates),
        "rephrasings_sent": sent_rephrased,
        "templates_sent_as_written": len(templates) - sent_rephrased,
        "rejections_by_reason": reasons,
        "dropped_facts_sent": dropped,
        "placeholders_sent": leftover,
    }


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, flush=True)


def _adapter_base(adapter_dir: Path) -> str:
    import yaml

    config = Path(adapter_dir) / "config.yml"
    if config.exists():
        return (yaml.safe_load(config.read_text()) or {}).get("base_model") or base_model.DEFAULT_BASE
    return base_model.DEFAULT_BASE


def report(result: dict, adapter_dir: Path, shown: int = 30) -> str:
    from adapters.train import evaluation_table

    audit = result["rephrasing"]
    lines = [
        f"# Brand-voice adapter: evaluation of `{adapter_dir.name}`",
        "",
        f"Held-out set: {result['examples']} customer messages with the team's replies "
        f"(the brand's voice/heldout.jsonl); perplexity on all of them, greedy generation (at most "
        f"{GENERATION['max_new_tokens']} new tokens) for {result['samples']}. "
        "Command: `tandem adapter eval --save`.",
        "",
        evaluation_table(result),
        "",
        f"Perplexity {result['perplexity_reduction']:.0%} lower with the adapter; voice similarity "
        f"{result['similarity_gain']:+.3f}.",
        "",
        "## Rephrasing audit",
        "",
        f"The opening sentences of each of the {audit['templates']} held-out replies, rephrased by the "
        "adapter as the serving path does (the brand's voice.yml), then checked: "
        f"{audit['rephrasings_sent']} rephrasings would be sent, {audit['templates_sent_as_written']} "
        f"templates sent as written (rejections by reason: {audit['rejections_by_reason']}). "
        f"Facts dropped in what would be sent: **{audit['dropped_facts_sent']}**; "
        f"placeholders in what would be sent: **{audit['placeholders_sent']}**.",
        "",
        f"## Side by side (the first {min(shown, len(result['generations']))})",
        "",
    ]
    for i, g in enumerate(result["generations"][:shown], 1):
        sims = (result["base"]["similarities"][i - 1], result["adapter"]["similarities"][i - 1])
        lines += [
            f"### {i}. {g['customer']}",
            "",
            f"**The team** — {_quote(g['reply'])}",
            "",
            f"**Base model** (similarity {sims[0]:.2f}) — {_quote(g['base'])}",
            "",
            f"**Base + adapter** (similarity {sims[1]:.2f}) — {_quote(g['adapter'])}",
            "",
        ]
    return "\n".join(lines)


def _quote(text: str) -> str:
    return " ".join(text.split()) or "(empty)"
