"""llama.cpp (PyPI llama-cpp-python) as one more backend of decode_backends.py, in its own virtual env.

Run (llama-cpp-python compiles llama.cpp from source on install; it is kept out of .venv):

    python3.11 -m venv /tmp/llama-venv
    CMAKE_BUILD_PARALLEL_LEVEL=2 /tmp/llama-venv/bin/pip install llama-cpp-python==0.3.36 numpy
    /tmp/llama-venv/bin/pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d /tmp/llama-sdist
    tar xzf /tmp/llama-sdist/llama_cpp_python-0.3.36.tar.gz -C /tmp/llama-sdist
    /tmp/llama-venv/bin/pip install --no-deps --target /tmp/llama-convert-extra sentencepiece
    PYTHONPATH=/tmp/llama-convert-extra .venv/bin/python -m bot.bench.experiments.decode_llamacpp prepare \\
        --converter /tmp/llama-sdist/llama_cpp_python-0.3.36/vendor/llama.cpp/convert_hf_to_gguf.py
    /tmp/llama-venv/bin/python bot/bench/experiments/decode_llamacpp.py measure
    .venv/bin/python -m bot.bench.experiments.decode_llamacpp report --save

Experiment, not in the product. Three steps, each in the env that has what it needs:

- prepare (.venv): the merged model of decode_backends.merged_model (cached under --work-dir), its
  GGUF conversions by llama.cpp's convert_hf_to_gguf.py (--outtype f32, f16, q8_0; the converter and
  its gguf-py come from the llama-cpp-python sdist, run with .venv's python, which has torch and
  transformers; the converter imports sentencepiece before it finds that this model has no
  tokenizer.model, hence the PYTHONPATH with sentencepiece alone, so nothing goes into .venv), and <work-dir>/llamacpp-inputs.json: the 12 prompts of decode_backends as token ids,
  the held-out examples as ids and labels (adapters/voice_data.encode), and the torch float32
  reference: its replies (stopping at EOS) and its teacher-forced top-1 predictions.
- measure (/tmp/llama-venv; imports only numpy and llama_cpp, so it runs as a file): Q4_K_M quantised
  from the f32 file by llama_model_quantize, then for every GGUF, 2 threads, greedy, the prompt ids fed
  as they are (Llama.generate, llm.reset() first, so no prefix of an earlier prompt is reused): the
  load, a warm-up generation, the replies (stopping at EOS) with llama.cpp's repeat penalty and with
  a transformers-style one, `--rounds` timing rounds interleaved over the models (64 new tokens, EOS
  ignored: generation runs past it, and a step costs the same whatever the token), noting the cores
  other processes kept busy (cpu_load.CpuOthers), and the perplexity of the held-out replies
  (Llama(logits_all=True), eval of the ids, llm.scores). Writes <work-dir>/llamacpp-results.json.
- report (.venv): medians as decode_backends summarises them, the replies' text and MiniLM cosine to
  float32's; with --save, docs/benchmarks/experiments/decode_llamacpp.json and the section
  "## llama.cpp (llama-cpp-python 0.3.36)" of decode_backends.md (replaced if there, else appended;
  it sits after the notes, so a re-run of decode_backends --save keeps it; its own notes, from the line
  "Notes on llama.cpp:", survive a re-run of report).

Repeat penalty: voice.yml's repetition_penalty 1.1 is, in transformers, applied to every distinct
token of the prompt and of the reply so far (a positive logit divided by 1.1, a negative one
multiplied). llama.cpp's penalty sampler applies the same formula, but only to the tokens it has
sampled (llama-cpp-python builds a fresh sampler per generate() and never shows it the prompt), and
only to the last `last_n_tokens_size` (64) of them. The replies are therefore made twice: with
llama.cpp's own penalty (the one timed), and with a logits processor that does what transformers does
(repeat_penalty 1.0 then), which isolates the numerical difference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a file in its own env
from cpu_load import CpuOthers  # noqa: E402

WORK_DIR = "/tmp/decode-exp"
INPUTS = "llamacpp-inputs.json"
RESULTS = "llamacpp-results.json"
THREADS = 2
NEW_TOKENS = 64
N_CTX = 512
CONVERTED = ("f32", "f16", "q8_0")  # by convert_hf_to_gguf.py --outtype
QUANTIZED = {"q4_k_m": "f32"}  # by llama_model_quantize, from that file
HEADING = "## llama.cpp (llama-cpp-python 0.3.36)"
NOTES = "Notes on llama.cpp:"  # the section's hand-written notes start at this line and survive a re-run
LABELS = {
    "f32": "llama.cpp f32",
    "f16": "llama.cpp f16",
    "q8_0": "llama.cpp q8_0",
    "q4_k_m": "llama.cpp Q4_K_M",
}


# ---- prepare (.venv) ----------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> None:
    import torch
    import yaml
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from adapters.serve import load_voice_settings
    from adapters.voice_data import encode, read_examples, system_prompt
    from bot.bench.experiments import decode_backends as exp
    from bot.core.settings import current_brand

    torch.set_num_threads(THREADS)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    settings = load_voice_settings()
    generation = {k: v for k, v in (settings.get("generation") or {}).items() if k != "max_new_tokens"}
    merged, stamp = exp.merged_model(work, settings)
    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    prompts = exp.rephrase_prompts(settings) + exp.knowledge_prompts(settings)
    for prompt in prompts:
        text = tokenizer.apply_chat_template(prompt["chat"], tokenize=False, add_generation_prompt=True)
        prompt["ids"] = tokenizer(text, add_special_tokens=False)["input_ids"]
    heldout = read_examples(current_brand().voice_dir / "heldout.jsonl")[: args.heldout]
    adapter_config = yaml.safe_load((exp.adapter_folder(settings) / "config.yml").read_text()) or {}
    max_length = int(adapter_config.get("max_length", 192))
    system = system_prompt()
    encoded = [e for e in (encode(tokenizer, x, max_length, system) for x in heldout) if e]

    import transformers

    data = {
        "merged_model": {**stamp, "path": str(merged)},
        "generation": generation,
        "eos_token_id": tokenizer.eos_token_id,
        "max_length": max_length,
        "prompts": [{"kind": p["kind"], "name": p["name"], "ids": p["ids"]} for p in prompts],
        "heldout": [{"ids": e["input_ids"], "labels": e["labels"]} for e in encoded],
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    inputs = work / INPUTS
    old = json.loads(inputs.read_text()) if inputs.exists() else {}
    same = ("generation", "prompts", "heldout", "versions")
    if old.get("merged_model", {}).get("digest") == stamp["digest"] and all(old[k] == data[k] for k in same):
        data["reference"] = old["reference"]  # the same model, inputs and versions: kept
    else:
        print("torch float32 reference: replies and held-out predictions ...", flush=True)
        backend = exp.TorchBackend(AutoModelForCausalLM.from_pretrained(str(merged)), tokenizer.eos_token_id)
        replies = [backend.generate(p["ids"], generation, exact=False).tokens for p in prompts]
        replies = [[t for t in reply if t != tokenizer.eos_token_id] for reply in replies]
        ppl, scored, predictions = exp.perplexity(backend, tokenizer, heldout, max_length)
        data["reference"] = {
            "name": "torch float32 (eager)",
            "replies": replies,
            "texts": [tokenizer.decode(r, skip_special_tokens=True).strip() for r in replies],
            "perplexity": ppl,
            "scored_tokens": scored,
            "top1": predictions.tolist(),
        }
        inputs.write_text(json.dumps(data))  # before the conversions, which may fail
    data["ggufs"] = {t: convert(Path(args.converter), merged, work, t, stamp["digest"]) for t in CONVERTED}
    inputs.write_text(json.dumps(data))
    reference = data["reference"]
    print(
        f"wrote {inputs}: float32 perplexity {reference['perplexity']:.3f} on {reference['scored_tokens']} tokens"
    )


def convert(converter: Path, merged: Path, work: Path, outtype: str, digest: str) -> dict:
    """The merged model as GGUF in `outtype` (cached: kept while the merged model is the same)."""
    target = work / f"merged-{outtype}.gguf"
    stamp_file = target.with_suffix(".json")
    if target.exists() and stamp_file.exists():
        old = json.loads(stamp_file.read_text())
        if old.get("source") == digest:
            return old
    partial = target.with_suffix(".partial")
    command = [sys.executable, str(converter), str(merged), "--outtype", outtype, "--outfile", str(partial)]
    print(f"converting to GGUF ({outtype}) ...", flush=True)
    started = time.monotonic()
    log = work / f"gguf-{outtype}.log"
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        raise RuntimeError(f"convert_hf_to_gguf.py failed ({outtype}); see {log}")
    partial.rename(target)
    stamp = {
        "source": digest,
        "path": str(target),
        "seconds": round(time.monotonic() - started, 1),
        "bytes": target.stat().st_size,
        "command": f"python convert_hf_to_gguf.py <merged> --outtype {outtype} --outfile <out>",
    }
    stamp_file.write_text(json.dumps(stamp, indent=2))
    return stamp


# ---- measure (/tmp/llama-venv) ------------------------------------------------------------


def transformers_penalty(penalty: float):
    """A llama-cpp-python logits processor that does what transformers' repetition penalty does:
    every distinct token so far (prompt included) is penalised."""

    def apply(input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        seen = np.unique(input_ids)
        picked = scores[seen]
        scores[seen] = np.where(picked < 0, picked * penalty, picked / penalty)
        return scores

    return apply


def generate(llm, ids: list[int], penalty: float, eos: int | None = None, processor=None) -> dict:
    """Greedy generation of at most NEW_TOKENS from the prompt ids (stopping at `eos` if given):
    the tokens, seconds and time to first token."""
    llm.reset()  # no reuse of a cached prefix (every prompt starts with the same system message)
    tokens: list[int] = []
    ttft = 0.0
    started = time.perf_counter()
    for token in llm.generate(
        ids,
        top_k=1,
        top_p=1.0,
        min_p=0.0,
        temp=0.0,
        repeat_penalty=penalty if processor is None else 1.0,
        logits_processor=None if processor is None else [processor],
    ):
        ttft = ttft or time.perf_counter() - started
        if token == eos:
            break
        tokens.append(token)
        if len(tokens) == NEW_TOKENS:
            break
    return {"tokens": tokens, "seconds": time.perf_counter() - started, "ttft": ttft}


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def perplexity(path: str, heldout: list[dict], reference_top1: list[int], threads: int) -> dict:
    """exp(mean NLL) of the reply tokens (teacher-forced, one example per eval), and how often the
    top-1 next token is float32 torch's."""
    from llama_cpp import Llama

    llm = Llama(path, n_ctx=N_CTX, n_threads=threads, n_threads_batch=threads, logits_all=True, verbose=False)
    total, count, predictions = 0.0, 0, []
    started = time.monotonic()
    for example in heldout:
        ids, labels = example["ids"], np.array(example["labels"][1:])
        llm.reset()
        llm.eval(ids)
        logits = np.array(llm.scores[: len(ids) - 1], dtype=np.float64)
        scored = labels != -100
        logp = log_softmax(logits[scored])
        total -= float(logp[np.arange(len(logp)), labels[scored]].sum())
        count += int(scored.sum())
        predictions.append(logits[scored].argmax(-1))
    predictions = np.concatenate(predictions)
    llm.close()
    return {
        "perplexity": float(np.exp(total / count)),
        "scored_tokens": count,
        "top1_agreement": round(float((predictions == np.array(reference_top1)).mean()), 4),
        "perplexity_seconds": round(time.monotonic() - started, 1),
    }


def quantize(source: Path, target: Path) -> dict:
    """Q4_K_M with llama.cpp's own quantiser (the C API llama_model_quantize; the wheel has no
    llama-quantize program)."""
    import ctypes

    import llama_cpp

    if not target.exists():
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
        params.nthread = THREADS
        partial = target.with_suffix(".partial")
        started = time.monotonic()
        failed = llama_cpp.llama_model_quantize(
            str(source).encode(), str(partial).encode(), ctypes.byref(params)
        )
        if failed:
            raise RuntimeError(f"llama_model_quantize failed ({failed})")
        partial.rename(target)
        target.with_suffix(".json").write_text(json.dumps({"seconds": round(time.monotonic() - started, 1)}))
    seconds = json.loads(target.with_suffix(".json").read_text())["seconds"]
    return {
        "path": str(target),
        "seconds": seconds,
        "bytes": target.stat().st_size,
        "command": f"llama_cpp.llama_model_quantize({source.name}, <out>, ftype=LLAMA_FTYPE_MOSTLY_Q4_K_M)",
    }


def measure(args: argparse.Namespace) -> None:
    import llama_cpp
    from llama_cpp import Llama

    work = Path(args.work_dir)
    inputs = json.loads((work / INPUTS).read_text())
    penalty = float(inputs["generation"].get("repetition_penalty", 1.0))
    eos = inputs["eos_token_id"]
    prompts = [p["ids"] for p in inputs["prompts"]]
    files = {name: inputs["ggufs"][name] for name in CONVERTED}
    for name, source in QUANTIZED.items():
        print(f"quantising {name} ...", flush=True)
        files[name] = quantize(Path(files[source]["path"]), work / f"merged-{name}.gguf")
    names = [n for n in args.variants.split(",") if n]
    models, rows = {}, {}
    for name in names:
        started = time.monotonic()
        models[name] = Llama(
            files[name]["path"],
            n_ctx=N_CTX,
            n_threads=args.threads,
            n_threads_batch=args.threads,
            verbose=False,
        )
        rows[name] = {"candidate": LABELS[name], "load_seconds": round(time.monotonic() - started, 2)}
        rows[name]["conversion"] = files[name]
    for name, llm in models.items():  # warm-up, then the replies
        started = time.monotonic()
        generate(llm, prompts[0], penalty)
        rows[name]["first_generation_seconds"] = round(time.monotonic() - started, 1)
        rows[name]["replies"] = [generate(llm, ids, penalty, eos)["tokens"] for ids in prompts]
        processor = transformers_penalty(penalty)
        rows[name]["replies_transformers_penalty"] = [
            generate(llm, ids, penalty, eos, processor)["tokens"] for ids in prompts
        ]
        print(f"{LABELS[name]}: loaded in {rows[name]['load_seconds']} s, replies done", flush=True)
    for row in rows.values():
        row["runs"], row["others_cores"] = [[] for _ in prompts], []
    for round_ in range(args.rounds):
        for name, llm in models.items():
            with CpuOthers() as others:
                for i, ids in enumerate(prompts):
                    run = generate(llm, ids, penalty)
                    rows[name]["runs"][i].append(
                        {"seconds": run["seconds"], "ttft": run["ttft"], "tokens": len(run["tokens"])}
                    )
            rows[name]["others_cores"].append(round(others.cores, 3))
        print(f"timing round {round_ + 1}/{args.rounds} done", flush=True)
    for name, llm in models.items():
        llm.close()
        reference_top1 = inputs["reference"]["top1"]
        rows[name].update(perplexity(files[name]["path"], inputs["heldout"], reference_top1, args.threads))
        print(f"{LABELS[name]}: perplexity {rows[name]['perplexity']:.3f}", flush=True)
    data = {
        "threads": args.threads,
        "n_ctx": N_CTX,
        "new_tokens": NEW_TOKENS,
        "rounds": args.rounds,
        "repeat_penalty": penalty,
        "versions": {"llama_cpp_python": llama_cpp.__version__, "numpy": np.__version__},
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "candidates": [rows[name] for name in names],
    }
    (work / RESULTS).write_text(json.dumps(data, indent=1))
    print(f"wrote {work / RESULTS}", flush=True)


# ---- report (.venv) -----------------------------------------------------------------------


def summary(row: dict) -> dict:
    """decode_backends.summary on the runs of one model: best round per prompt, median over prompts."""
    best = [min(runs, key=lambda r: r["seconds"]) for runs in row["runs"]]
    return {
        "tokens_per_second": round(statistics.median(r["tokens"] / r["seconds"] for r in best), 1),
        "decode_tokens_per_second": round(
            statistics.median((r["tokens"] - 1) / (r["seconds"] - r["ttft"]) for r in best), 1
        ),
        "ttft_ms": round(1000 * statistics.median(min(r["ttft"] for r in runs) for runs in row["runs"]), 1),
        "new_tokens": sorted({r["tokens"] for r in best}),
        "spread_pct": round(
            100
            * statistics.median(
                max(r["seconds"] for r in runs) / min(r["seconds"] for r in runs) - 1 for runs in row["runs"]
            ),
            1,
        ),
        "others_cores_mean": round(statistics.mean(row["others_cores"]), 2),
        "others_cores_max": round(max(row["others_cores"]), 2),
    }


def report(args: argparse.Namespace) -> None:
    import importlib.util

    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from bot.bench.experiments.decode_backends import EMBEDDER_PACKAGE
    from bot.bench.report import OUT_DIR, provenance

    work = Path(args.work_dir)
    inputs = json.loads((work / INPUTS).read_text())
    results = json.loads((work / RESULTS).read_text())
    tokenizer = AutoTokenizer.from_pretrained(inputs["merged_model"]["path"])
    package = importlib.util.find_spec(EMBEDDER_PACKAGE)
    embedder = SentenceTransformer(str(Path(package.origin).parent / "model"), device="cpu")
    reference = inputs["reference"]
    base = embedder.encode(reference["texts"], normalize_embeddings=True)
    rows = []
    for row in results["candidates"]:
        out = {k: v for k, v in row.items() if k not in ("runs", "replies", "replies_transformers_penalty")}
        out.update(summary(row))
        out["perplexity_change_pct"] = round(100 * (row["perplexity"] / reference["perplexity"] - 1), 2)
        out["perplexity"] = round(row["perplexity"], 3)
        for key, suffix in (("replies", ""), ("replies_transformers_penalty", "_transformers_penalty")):
            texts = [tokenizer.decode(r, skip_special_tokens=True).strip() for r in row[key]]
            cosines = (embedder.encode(texts, normalize_embeddings=True) * base).sum(axis=1)
            out[f"identical_to_float32{suffix}"] = sum(
                a == b for a, b in zip(texts, reference["texts"], strict=True)
            )
            out[f"cosine_to_float32{suffix}"] = round(float(cosines.mean()), 4)
            out[f"cosine_min{suffix}"] = round(float(cosines.min()), 4)
            out[f"replies{suffix}"] = texts
        out["runs"] = row["runs"]
        rows.append(out)
    data = {
        **provenance(),
        **{k: v for k, v in results.items() if k != "candidates"},
        "versions": {**results["versions"], **inputs["versions"]},
        "generation": inputs["generation"],
        "heldout_examples": len(inputs["heldout"]),
        "max_length": inputs["max_length"],
        "merged_model": inputs["merged_model"],
        "float32_perplexity": round(reference["perplexity"], 3),
        "float32_scored_tokens": reference["scored_tokens"],
        "float32_replies": reference["texts"],
        "prompts": [
            {"kind": p["kind"], "name": p["name"], "prompt_tokens": len(p["ids"])} for p in inputs["prompts"]
        ],
        "candidates": rows,
    }
    text = markdown(data)
    print(text)
    if args.save:
        out_dir = Path(args.out_dir) if args.out_dir else OUT_DIR / "experiments"
        (out_dir / "decode_llamacpp.json").write_text(json.dumps(data, indent=2) + "\n")
        md = out_dir / "decode_backends.md"
        old = md.read_text()
        start = old.find("\n" + HEADING + "\n")
        if start < 0:
            new = old.rstrip() + "\n\n" + text
        else:
            end = old.find("\n## ", start + len(HEADING) + 2)
            section = old[start + 1 : end if end >= 0 else len(old)]
            kept = section.find("\n" + NOTES)
            text += "\n" + section[kept:].rstrip() if kept >= 0 else ""
            new = old[: start + 1] + text + "\n" + (old[end:] if end >= 0 else "")
        md.write_text(new.rstrip() + "\n")


def markdown(data: dict) -> str:
    count = len(data["prompts"])
    lines = [
        HEADING,
        "",
        f"The same merged model, converted to GGUF, run by llama-cpp-python {data['versions']['llama_cpp_python']} "
        f"(llama.cpp compiled from source by pip on this machine, with {features(data['system_info'])}), "
        f"{data['threads']} threads (n_threads and n_threads_batch), n_ctx {data['n_ctx']}, greedy (temp 0), "
        f"repeat_penalty {data['repeat_penalty']}, the same {count} prompts fed as token ids, "
        f"{data['new_tokens']} new tokens, best of {data['rounds']} per prompt, median over prompts; "
        f"perplexity on the same {data['heldout_examples']} held-out replies. {data['date']}, commit "
        f"{data['commit']}. Command: see below.",
        "",
        "| backend | tokens/s | decode tokens/s | TTFT ms | load s | first generation s | perplexity | vs float32 "
        "| top-1 agreement | identical replies | cosine (min) | other load (cores) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["candidates"]:
        lines.append(
            f"| {r['candidate']} | {r['tokens_per_second']} | {r['decode_tokens_per_second']} | {r['ttft_ms']} "
            f"| {r['load_seconds']} | {r['first_generation_seconds']} | {r['perplexity']:.3f} "
            f"| {r['perplexity_change_pct']:+.2f}% | {r['top1_agreement']:.1%} "
            f"| {r['identical_to_float32']}/{count} ({r['identical_to_float32_transformers_penalty']}/{count}) "
            f"| {r['cosine_to_float32']:.3f} ({r['cosine_min']:.2f}) "
            f"| {r['others_cores_mean']} (max {r['others_cores_max']}) |"
        )
    lines += [
        "",
        f"float32 (torch, eager, recomputed by `prepare` in this run): perplexity {data['float32_perplexity']} "
        f"on {data['float32_scored_tokens']} scored tokens. Identical replies: with llama.cpp's own repeat "
        "penalty, and in brackets with a logits processor that penalises as transformers does (every "
        "distinct token of prompt and reply so far); cosine with llama.cpp's own penalty. Load: "
        "Llama(path) (mmap; the file in the page cache). Other load: as in the main table. Spread, the "
        "median over prompts of slowest/fastest round - 1: "
        + ", ".join(f"{r['candidate']} {r['spread_pct']}%" for r in data["candidates"])
        + ".",
        "",
        "| GGUF | made by | seconds | size MB |",
        "|---|---|---|---|",
    ]
    for r in data["candidates"]:
        c = r["conversion"]
        lines.append(f"| {r['candidate']} | `{c['command']}` | {c['seconds']} | {c['bytes'] / 1e6:.0f} |")
    lines += ["", "### Replies that differ from float32's (llama.cpp's own repeat penalty)", ""]
    for r in data["candidates"]:
        differ = [
            (i, a, b)
            for i, (a, b) in enumerate(zip(r["replies"], data["float32_replies"], strict=True), 1)
            if a != b
        ]
        lines.append(f"- {r['candidate']}: {len(differ)} of {count} differ" + (":" if differ else ""))
        for i, a, b in differ[:2]:
            lines += [f"  - prompt {i}, float32: {_short(b)}", f"    - {r['candidate']}: {_short(a)}"]
    return "\n".join(lines)


def features(system_info: str) -> str:
    """The enabled features of llama_print_system_info ("CPU : AVX = 1 | AVX512 = 1 | ...")."""
    found = [
        part.split("=")[0].split(":")[-1].strip()
        for part in system_info.split("|")
        if part.strip().endswith("= 1")
    ]
    return " ".join(found)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["prepare", "measure", "report"])
    parser.add_argument("--work-dir", default=WORK_DIR, help="merged model, GGUF files, inputs and results")
    parser.add_argument("--converter", help="prepare: llama.cpp's convert_hf_to_gguf.py")
    parser.add_argument("--heldout", type=int, default=64, help="prepare: held-out examples for perplexity")
    parser.add_argument("--rounds", type=int, default=3, help="measure: timed generations per prompt")
    parser.add_argument("--threads", type=int, default=THREADS, help="measure: n_threads and n_threads_batch")
    parser.add_argument("--variants", default=",".join([*CONVERTED, *QUANTIZED]), help="measure: GGUF files")
    parser.add_argument("--save", action="store_true", help="report: write the json and the markdown section")
    parser.add_argument("--out-dir", default="", help="report: default docs/benchmarks/experiments")
    args = parser.parse_args()
    if args.step == "prepare" and not args.converter:
        parser.error("prepare needs --converter")
    {"prepare": prepare, "measure": measure, "report": report}[args.step](args)


if __name__ == "__main__":
    main()
