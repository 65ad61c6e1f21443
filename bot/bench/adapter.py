"""`tandem bench adapter`: the voice model's costs, written to docs/benchmarks/adapter.md.

Training figures come from the adapter's metrics.json (what `tandem adapter train`
measured); this command measures serving: load time, generation tokens/s, the first token
and a typical reply (greedy, held-out customer messages), peak memory, and each decoder
(transformers float32 and bfloat16, ONNX Runtime GenAI int8) on the same replies, held-out
perplexity and the rephrasing of every response of the flows through the product's checks.
"""

from __future__ import annotations

import json
import platform
import resource
import time

from bot.bench.report import percentile, write_report
from bot.core.settings import current_brand

SAMPLE_SLOTS = {  # the values a flow would fill in, for the responses' templates
    "address": "12 Oak Street, Portland, ME 04101",
    "new_address": "48 Birch Lane, Salem, OR 97301",
    "cancellable": "yes",
    "carrier": "UPS",
    "deadline": "2026-12-14",
    "delivered_on": "2026-11-28",
    "email": "sam@example.com",
    "eta": "2026-12-05",
    "hours": "24",
    "item": "Trail Kettle",
    "items": "Trail Kettle, Summit Tent",
    "order_number": "BB-100031",
    "placed_on": "2026-11-20",
    "refund_days": "5 to 7 business days",
    "return_number": "RT-2041",
    "shipped_on": "2026-11-22",
    "status": "shipped",
    "total": "84.50",  # the template says ${total}
    "tracking_number": "1Z999AA10123456784",
    "window_days": "30",
}

# the decoders compared: torch float32 is the reference; ONNX int8 is the default on a CPU
DECODERS = {
    "torch float32": {"decoder": "torch", "dtype": "float32"},
    "torch bfloat16": {"decoder": "torch", "dtype": "bfloat16"},
    "onnx int8 (default)": {"decoder": "onnx", "onnx_precision": "int8"},
}


def templates() -> list[tuple[str, str, list[str]]]:
    """Every text response of the brand's flows, its slots filled: (response name, text, the
    values in it)."""
    from actions import nlg

    out = []
    for name, variations in nlg.responses().items():
        for variation in variations:
            template = variation.get("text") or ""
            if template:
                values = [SAMPLE_SLOTS[n] for n in nlg.SLOT.findall(template) if n in SAMPLE_SLOTS]
                out.append((name, nlg.interpolate(template, SAMPLE_SLOTS), values))
    return out


def run(replies: int = 12, max_new_tokens: int = 64, heldout_examples: int = 64) -> dict:
    import torch

    from adapters.serve import VoiceModel, load_voice_settings
    from adapters.voice_data import encode, read_examples

    brand = current_brand()
    settings = load_voice_settings()
    adapter = brand.path(settings["adapter"])
    metrics = json.loads((adapter / "metrics.json").read_text())
    train_set = read_examples(brand.voice_dir / "train.jsonl")
    max_length = 192
    config = adapter / "config.yml"
    if config.exists():
        import yaml

        max_length = int((yaml.safe_load(config.read_text()) or {}).get("max_length", max_length))
    started = time.monotonic()
    voice = VoiceModel.load(settings)
    load_seconds = time.monotonic() - started
    epoch_tokens = sum(
        len(e["input_ids"]) for e in (encode(voice.tokenizer, x, max_length) for x in train_set) if e
    )
    serving = decoders(settings, replies, max_new_tokens, heldout_examples, max_length)
    grounded = grounded_job(voice)
    default = next(row for row in serving if row["decoder"] == voice.decoder.name)
    return {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "device": "cpu" if voice.model is None else str(voice.model.device),
        "training": {
            "examples": metrics["examples"],
            "grounded_examples": metrics.get("grounded_examples", 0),
            "rephrase_examples": metrics.get("rephrase_examples", 0),
            "epochs": metrics.get("epochs", 1),
            "steps": metrics["steps"],
            "seconds": metrics["seconds"],
            "tokens": metrics["tokens"],
            "tokens_per_second": metrics["tokens_per_second"],
            "peak_memory_mb": metrics["peak_memory_mb"],
            "device": metrics["device"],
            "full_epoch_examples": len(train_set),
            "full_epoch_tokens": epoch_tokens,
            "full_epoch_seconds_estimated": round(epoch_tokens / metrics["tokens_per_second"], 0),
        },
        "adapter_bytes": metrics["adapter_bytes"],
        "trainable_parameters": metrics["trainable_parameters"],
        "serving": {
            "decoder": default["name"],
            "load_seconds": round(load_seconds, 2),
            "replies": default["replies"],
            "max_new_tokens": max_new_tokens,
            "tokens_per_second": default["tokens_per_second"],
            "first_token_p95_s": default["first_token_p95_s"],
            "latency_p50_s": default["latency_p50_s"],
            "latency_p95_s": default["latency_p95_s"],
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
        "decoders": serving,
        "grounded": grounded,
    }


def decoders(
    settings: dict, replies: int, max_new_tokens: int, heldout_examples: int, max_length: int
) -> list[dict]:
    """Each decoder on the same work: replies to held-out customers (speed, and whether the
    reply is float32's word for word), held-out perplexity, and the rephrasing of every
    response of the flows through the product's checks (how many would be sent)."""
    from adapters.evaluate import decoder_perplexity, similarity
    from adapters.serve import VoiceModel
    from adapters.voice_data import messages, read_examples, rephrase_heldout
    from knowledge.config import KnowledgeSettings
    from knowledge.embeddings import embedding_model

    brand = current_brand()
    heldout = read_examples(brand.voice_dir / "heldout.jsonl")
    chats = [messages(e.customer) for e in heldout[:replies]]
    scored = heldout[:heldout_examples]
    responses = templates()
    embedder = embedding_model(KnowledgeSettings().embedding_model)

    def close(a: str, b: str) -> float:
        return similarity(embedder, [a], [b])[0]

    rows, reference, reference_sent = [], None, None
    for name, override in DECODERS.items():
        started = time.monotonic()
        voice = VoiceModel.load({**settings, **override})
        load = time.monotonic() - started
        voice.generate(chats[0], max_new_tokens=8)  # warm
        runs = [voice.decode(chat, max_new_tokens=max_new_tokens) for chat in chats]
        texts = [voice.tokenizer.decode(r.tokens, skip_special_tokens=True) for r in runs]
        reference = reference or texts
        print(
            f"  {name}: {sum(len(r.tokens) for r in runs) / sum(r.seconds for r in runs):.1f} tokens/s",
            flush=True,
        )
        ppl = decoder_perplexity(voice.decoder, voice.tokenizer, scored, max_length)
        rephrasings = [voice.rephrase(text, values, close) for _, text, values in responses]
        sent = [r.rephrased for r in rephrasings]
        # responses whose rephrasing examples were held out of training (bot/seed/rephrase.py)
        heldout_sent = [
            ok for (name, _, _), ok in zip(responses, sent, strict=True) if rephrase_heldout(name)
        ]
        reference_sent = reference_sent or sent
        rows.append(
            {
                "name": name,
                "decoder": voice.decoder.name,
                "load_seconds": round(load, 2),
                "replies": len(runs),
                "tokens_per_second": round(
                    sum(len(r.tokens) for r in runs) / sum(r.seconds for r in runs), 1
                ),
                "first_token_p50_s": round(percentile([r.first_token_seconds for r in runs], 50), 3),
                "first_token_p95_s": round(percentile([r.first_token_seconds for r in runs], 95), 3),
                "latency_p50_s": round(percentile([r.seconds for r in runs], 50), 2),
                "latency_p95_s": round(percentile([r.seconds for r in runs], 95), 2),
                "same_as_float32": sum(a == b for a, b in zip(texts, reference, strict=True)),
                "perplexity": round(ppl, 3),
                "perplexity_examples": len(scored),
                "rephrasings": len(sent),
                "rephrasings_passed": sum(sent),
                "rephrasings_as_float32": sum(a == b for a, b in zip(sent, reference_sent, strict=True)),
                "rephrasings_heldout": len(heldout_sent),
                "rephrasings_heldout_passed": sum(heldout_sent),
                "rephrasing_samples": [
                    {
                        "response": name,
                        "template": text,
                        "sent": r.text,
                        "passed": r.rephrased,
                        "problems": r.problems,
                    }
                    for (name, text, _), r in zip(responses, rephrasings, strict=True)
                ],
                "rejections": _reasons(rephrasings),
            }
        )
        print(
            f"    perplexity {ppl:.3f}, rephrasings passed {sum(sent)}/{len(sent)}, "
            f"held-out responses {sum(heldout_sent)}/{len(heldout_sent)}",
            flush=True,
        )
        del voice
    base = rows[0]
    for row in rows:
        row["perplexity_vs_float32"] = round(row["perplexity"] / base["perplexity"] - 1, 4)
        row["pass_rate_vs_float32"] = round(
            (row["rephrasings_passed"] - base["rephrasings_passed"]) / max(1, base["rephrasings"]), 4
        )
    return rows


def grounded_job(voice) -> dict:
    """The knowledge-answer job on the held-out grounded examples (bot/seed/grounded.py),
    through the product's generator and its independent verifier."""
    from adapters.evaluate import grounded_audit
    from bot.gate.thresholds import load_thresholds
    from knowledge.answer import embedding_scorer
    from knowledge.config import KnowledgeSettings
    from knowledge.embeddings import embedding_model

    brand = current_brand()
    path = brand.voice_dir / "grounded_heldout.jsonl"
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    scorer = embedding_scorer(embedding_model(KnowledgeSettings().embedding_model))
    min_support = float(load_thresholds(brand.gate_file).verification.min_sentence_support)
    result = grounded_audit(voice, rows, min_support, brand.product_names(), lambda s, c: max(scorer(s, c)))
    print(
        f"  grounded: {result['passed_verification']}/{result['answerable']} passed, "
        f"{result['declined']}/{result['unanswerable']} declined",
        flush=True,
    )
    return result


def _reasons(rephrasings) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rephrasings:
        for problem in r.problems:
            reason = problem.split(" ")[0]
            counts[reason] = counts.get(reason, 0) + 1
    return counts


def markdown(r: dict) -> str:
    t, s = r["training"], r["serving"]
    return "\n".join(
        [
            "# Brand-voice adapter: training and serving costs",
            "",
            f"Machine: {r['machine']}; no GPU was lent to the session that measured this, so no",
            "GPU figures (tokens/s, MFU) are reported. `tandem adapter train` on a GPU uses CUDA with",
            "bf16 and writes the same metrics.json.",
            "",
            "Commands: `tandem adapter train` (training figures, the adapter's metrics.json),",
            "`tandem bench adapter --save` (serving figures).",
            "",
            "| training (default recipe, the brand's voice/train.yml) | |",
            "|---|---|",
            f"| device | {t['device']} |",
            f"| examples × epochs, steps | {t['examples']} "
            f"({t['examples'] - t.get('grounded_examples', 0) - t.get('rephrase_examples', 0)} voice, "
            f"{t.get('grounded_examples', 0)} grounded, {t.get('rephrase_examples', 0)} rephrasing) "
            f"× {t.get('epochs', 1):g}, {t['steps']} steps |",
            f"| time | {t['seconds']:.0f} s ({t['seconds'] / 60:.1f} min) |",
            f"| throughput | {t['tokens_per_second']:.0f} tokens/s ({t['tokens']:,} tokens) |",
            f"| a full epoch of all {t['full_epoch_examples']:,} voice examples | ≈ {t['full_epoch_seconds_estimated'] / 60:.0f} min "
            f"({t['full_epoch_tokens']:,} tokens at that rate) |",
            f"| peak memory (RSS) | {t['peak_memory_mb']:,.0f} MiB |",
            f"| adapter size | {r['adapter_bytes'] / 2**20:.1f} MiB ({r['trainable_parameters']:,} LoRA parameters) |",
            "",
            f"| serving (base + adapter merged, greedy; decoder: {s['decoder']}) | |",
            "|---|---|",
            f"| device | {r['device']} |",
            f"| load | {s['load_seconds']} s |",
            f"| generation | {s['tokens_per_second']} tokens/s |",
            f"| first token | p95 {s['first_token_p95_s']} s |",
            f"| a typical reply (at most {s['max_new_tokens']} tokens) | p50 {s['latency_p50_s']} s, p95 {s['latency_p95_s']} s ({s['replies']} replies) |",
            f"| peak memory (RSS, the whole benchmark) | {s['peak_memory_mb']:,.0f} MiB |",
            "",
            "Decoders (`decoder`, `dtype` and `onnx_precision` in the brand's voice.yml), on the same work:",
            "",
            "| decoder | load | tokens/s | first token p50 / p95 | reply p50 / p95 | replies as float32's | held-out perplexity (vs float32) | rephrasings passed (vs float32) | of them held-out responses | rejections |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *(
                f"| {d['name']} | {d['load_seconds']} s | {d['tokens_per_second']} | {d['first_token_p50_s']} / {d['first_token_p95_s']} s "
                f"| {d['latency_p50_s']} / {d['latency_p95_s']} s | {d['same_as_float32']}/{d['replies']} "
                f"| {d['perplexity']} ({d['perplexity_vs_float32']:+.2%}) | {d['rephrasings_passed']}/{d['rephrasings']} ({d['pass_rate_vs_float32']:+.1%}) "
                f"| {d.get('rephrasings_heldout_passed', '-')}/{d.get('rephrasings_heldout', '-')} "
                f"| {', '.join(f'{k} {v}' for k, v in sorted(d['rejections'].items())) or '-'} |"
                for d in r.get("decoders", [])
            ),
            "",
            *_grounded_lines(r.get("grounded") or {}),
            f"Replies: greedy, to {s['replies']} held-out customer messages. Perplexity: the held-out replies, "
            "teacher-forced through each decoder. Rephrasings: every text response of the flows, slots filled "
            "with sample values, rewritten with constrained decoding (adapters/constrained.py) and put through "
            "the product's checks (adapters/serve.py `check_rephrasing`): a rephrasing passes when it keeps "
            "every fact and slot value, adds none, stays close in meaning and is not too long. The ONNX "
            "decoder is ONNX Runtime GenAI with int8 weights (adapters/decoding.py); "
            "docs/benchmarks/experiments/decode_backends.md compares more backends.",
            "",
        ]
    )


def _grounded_lines(g: dict) -> list[str]:
    if not g:
        return []
    return [
        "The grounded job (knowledge answers), on the held-out examples of voice/grounded_heldout.jsonl "
        "(the brand's own sections and doc2dial's help pages, the answering passage among distractors), "
        "written by the default decoder with constrained decoding and checked by knowledge/verify.py:",
        "",
        "| answerable: passed verification | with every fact of the reference reply | no passage answers: declined | answers with an unsupported fact | answer p50 |",
        "|---|---|---|---|---|",
        f"| {g['passed_verification']}/{g['answerable']} | {g['with_every_reference_fact']}/{g['answerable']} "
        f"| {g['declined']}/{g['unanswerable']} | {g['answers_with_unsupported_facts']} | {g['seconds_p50']} s |",
        "",
    ]


def add_parser(bsub) -> None:
    q = bsub.add_parser(
        "adapter", help="voice model: training figures, generation speed, latency, memory, size"
    )
    q.add_argument("--replies", type=int, default=12, help="replies to generate (default 12)")
    q.add_argument(
        "--heldout", type=int, default=64, help="held-out replies to score for perplexity (default 64)"
    )
    q.add_argument("--save", action="store_true", help="write docs/benchmarks/adapter.md and .json")
    q.set_defaults(func=_cmd)


def _cmd(args) -> int:
    result = run(args.replies, heldout_examples=args.heldout)
    text = markdown(result)
    print(text)
    if args.save:
        write_report("adapter", text, result)
    return 0
