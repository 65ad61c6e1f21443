"""`tandem bench adapter`: the voice model's costs, written to docs/benchmarks/adapter.md.

Training figures come from the adapter's metrics.json (what `tandem adapter train`
measured); this command measures serving: load and merge time, generation tokens/s and
the latency of a typical reply (greedy, held-out customer messages), peak memory, and the
same replies with the weights in float32, bfloat16 and int8.
"""

from __future__ import annotations

import json
import platform
import resource
import statistics
import time

from bot.bench.report import percentile, write_report
from bot.core.settings import current_brand


def run(replies: int = 12, max_new_tokens: int = 64) -> dict:
    import torch

    from adapters.serve import VoiceModel, load_voice_settings
    from adapters.voice_data import encode, messages, read_examples

    brand = current_brand()
    settings = load_voice_settings()
    adapter = brand.path(settings["adapter"])
    metrics = json.loads((adapter / "metrics.json").read_text())
    started = time.monotonic()
    voice = VoiceModel.load(settings)
    load_seconds = time.monotonic() - started
    examples = read_examples(brand.voice_dir / "heldout.jsonl")[:replies]
    voice.generate(messages("hello"), max_new_tokens=8)  # warm
    latencies, tokens = [], []
    for example in examples:
        _, n, seconds = voice.generate(messages(example.customer), max_new_tokens=max_new_tokens)
        latencies.append(seconds)
        tokens.append(n)
    peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # before the copies below
    precision = precisions(voice, [messages(e.customer) for e in examples], max_new_tokens)
    train_set = read_examples(brand.voice_dir / "train.jsonl")
    max_length = 192
    config = adapter / "config.yml"
    if config.exists():
        import yaml

        max_length = int((yaml.safe_load(config.read_text()) or {}).get("max_length", max_length))
    epoch_tokens = sum(
        len(e["input_ids"]) for e in (encode(voice.tokenizer, x, max_length) for x in train_set) if e
    )
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "device": str(voice.model.device),
        "training": {
            "examples": metrics["examples"],
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
            "load_and_merge_seconds": round(load_seconds, 2),
            "replies": len(latencies),
            "max_new_tokens": max_new_tokens,
            "tokens_per_second": round(sum(tokens) / sum(latencies), 1),
            "mean_new_tokens": round(statistics.mean(tokens), 1),
            "latency_p50_s": round(percentile(latencies, 50), 2),
            "latency_p95_s": round(percentile(latencies, 95), 2),
            "peak_memory_mb": peak_mb,
        },
        "precisions": precision,
    }
    return result


def precisions(voice, chats: list, max_new_tokens: int) -> list[dict]:
    """The same replies with the merged weights in float32, bfloat16 and int8 (dynamic
    quantisation of the linear layers): tokens/s, and how many replies are word for word
    float32's. Greedy decoding, so a reply that differs was changed by the precision."""
    import copy

    import torch

    merged = voice.model
    models = {
        "float32": copy.deepcopy(merged).to(torch.float32),
        "bfloat16": copy.deepcopy(merged).to(torch.bfloat16),
    }
    if voice.model.device.type == "cpu":
        models["int8 (dynamic)"] = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(merged).to(torch.float32), {torch.nn.Linear}, dtype=torch.qint8
        )
    rows, reference = [], None
    try:
        for name, model in models.items():
            voice.model = model
            voice.generate(chats[0], max_new_tokens=8)  # warm
            replies = [voice.generate(chat, max_new_tokens=max_new_tokens) for chat in chats]
            texts = [text for text, _, _ in replies]
            reference = reference or texts
            rows.append(
                {
                    "dtype": name,
                    "tokens_per_second": round(
                        sum(n for _, n, _ in replies) / sum(t for _, _, t in replies), 1
                    ),
                    "latency_p50_s": round(percentile([t for _, _, t in replies], 50), 2),
                    "same_as_float32": sum(a == b for a, b in zip(texts, reference, strict=True)),
                    "replies": len(texts),
                }
            )
            print(f"  {name}: {rows[-1]['tokens_per_second']} tokens/s", flush=True)
    finally:
        voice.model = merged
    return rows


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
            f"| examples × epochs, steps | {t['examples']} × 1, {t['steps']} steps |",
            f"| time | {t['seconds']:.0f} s ({t['seconds'] / 60:.1f} min) |",
            f"| throughput | {t['tokens_per_second']:.0f} tokens/s ({t['tokens']:,} tokens) |",
            f"| a full epoch of all {t['full_epoch_examples']:,} examples | ≈ {t['full_epoch_seconds_estimated'] / 60:.0f} min "
            f"({t['full_epoch_tokens']:,} tokens at that rate) |",
            f"| peak memory (RSS) | {t['peak_memory_mb']:,.0f} MiB |",
            f"| adapter size | {r['adapter_bytes'] / 2**20:.1f} MiB ({r['trainable_parameters']:,} LoRA parameters) |",
            "",
            "| serving (base + adapter merged, greedy) | |",
            "|---|---|",
            f"| device | {r['device']} |",
            f"| load and merge | {s['load_and_merge_seconds']} s |",
            f"| generation | {s['tokens_per_second']} tokens/s |",
            f"| a typical reply ({s['mean_new_tokens']:.0f} tokens, at most {s['max_new_tokens']}) | p50 {s['latency_p50_s']} s, p95 {s['latency_p95_s']} s ({s['replies']} replies) |",
            f"| peak memory (RSS) | {s['peak_memory_mb']:,.0f} MiB |",
            "",
            "| weights (`dtype` in the brand's voice.yml) | tokens/s | reply p50 | replies the same as float32's |",
            "|---|---|---|---|",
            *(
                f"| {p['dtype']} | {p['tokens_per_second']} | {p['latency_p50_s']} s | {p['same_as_float32']}/{p['replies']} |"
                for p in r.get("precisions", [])
            ),
            "",
            "Greedy decoding: a reply that differs from float32's was changed by the precision. int8 is",
            "measured, not offered: it is faster but changes replies, and verification would have to catch",
            "every number it copies wrong.",
            "",
        ]
    )


def add_parser(bsub) -> None:
    q = bsub.add_parser(
        "adapter", help="voice model: training figures, generation speed, latency, memory, size"
    )
    q.add_argument("--replies", type=int, default=12, help="replies to generate (default 12)")
    q.add_argument("--save", action="store_true", help="write docs/benchmarks/adapter.md and .json")
    q.set_defaults(func=_cmd)


def _cmd(args) -> int:
    result = run(args.replies)
    text = markdown(result)
    print(text)
    if args.save:
        write_report("adapter", text, result)
    return 0
