"""`tandem adapter train|eval|say`: the brand-voice adapter from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.core.settings import ROOT, current_brand

REPORT = ROOT / "docs" / "adapter"


def cmd_train(args: argparse.Namespace) -> int:
    from adapters import config as cfg
    from adapters.base_model import BaseModelError
    from adapters.train import train
    from adapters.voice_data import VoiceDataError

    if args.help_config:
        print(cfg.help_text())
        return 0
    recipe = args.config or current_brand().voice_dir / "train.yml"
    try:
        config = cfg.load(recipe, args.set)
        print(f"training the adapter into {config.output_dir} (recipe {recipe})")
        metrics = train(config, fresh=args.fresh)
    except (cfg.ConfigError, VoiceDataError, BaseModelError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"done: {metrics['steps']} steps, {metrics['examples']} examples in {metrics['seconds']:.0f} s "
        f"({metrics['tokens_per_second']:.0f} tokens/s), loss {metrics['first_loss']} -> {metrics['final_loss']}, "
        f"adapter {metrics['adapter_bytes'] / 2**20:.1f} MiB in {config.output_dir}"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from adapters import evaluate as ev
    from adapters.base_model import BaseModelError
    from adapters.voice_data import VoiceDataError, read_examples

    brand = current_brand()
    try:
        data = read_examples(args.data or brand.voice_dir / "heldout.jsonl")
        if args.limit:
            data = data[: args.limit]
        adapter = Path(args.adapter) if args.adapter else brand.root / "adapter"
        if not (adapter / "adapter_config.json").exists():
            raise VoiceDataError(f"{adapter} holds no adapter: train one with `tandem adapter train`")
        result = ev.evaluate(adapter, data, samples=args.samples, device=args.device)
    except (VoiceDataError, BaseModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "generations"}, indent=2))
    else:
        from adapters.train import evaluation_table

        print(evaluation_table(result))
        print(
            f"perplexity {result['perplexity_reduction']:.0%} lower with the adapter; "
            f"voice similarity {result['similarity_gain']:+.3f}"
        )
    if args.save:
        REPORT.mkdir(parents=True, exist_ok=True)
        (REPORT / "eval.md").write_text(ev.report(result, adapter) + "\n")
        (REPORT / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
        _add_evaluation_to_model_card(adapter, result)
        print(f"report: {REPORT / 'eval.md'}", file=sys.stderr)
    return 0


def _add_evaluation_to_model_card(adapter: Path, result: dict) -> None:
    from adapters import config as cfg
    from adapters.train import write_model_card

    metrics_file, recipe = adapter / "metrics.json", adapter / "config.yml"
    if metrics_file.exists() and recipe.exists():
        metrics = json.loads(metrics_file.read_text())
        metrics["evaluation"] = {
            k: result[k] for k in ("perplexity_reduction", "similarity_gain", "examples", "samples")
        }
        metrics_file.write_text(json.dumps(metrics, indent=2) + "\n")
        config = cfg.load(recipe)
        write_model_card(adapter, config, metrics, result)


def cmd_say(args: argparse.Namespace) -> int:
    from adapters.serve import VoiceModel
    from adapters.voice_data import messages

    voice = VoiceModel.load()
    text, tokens, seconds = voice.generate(messages(args.message))
    print(text)
    print(
        f"({tokens} tokens in {seconds:.1f} s, {tokens / max(seconds, 1e-9):.1f} tokens/s)", file=sys.stderr
    )
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("adapter", help="the brand-voice LoRA adapter: train, evaluate, try")
    asub = p.add_subparsers(dest="adapter_command", required=True, metavar="ACTION")
    q = asub.add_parser(
        "train",
        help="train the LoRA adapter on the brand's voice examples",
        description="Trains a peft LoRA adapter (reply tokens only, chat template, fixed seed; CPU, or "
        "CUDA with bf16). Resumes from the last checkpoint of the same recipe; --fresh starts over.",
    )
    q.add_argument("--config", help="recipe, YAML or JSON (default: the brand's voice/train.yml)")
    q.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a field of the recipe")
    q.add_argument("--fresh", action="store_true", help="ignore a checkpoint and start over")
    q.add_argument("--help-config", action="store_true", help="list the recipe's fields and exit")
    q.set_defaults(func=cmd_train)
    q = asub.add_parser(
        "eval",
        help="base model vs base + adapter on held-out replies: perplexity, voice similarity, samples",
    )
    q.add_argument("--data", help="held-out voice examples, JSONL (default: the brand's voice/heldout.jsonl)")
    q.add_argument("--adapter", help="the adapter folder (default: the brand's adapter/)")
    q.add_argument("--samples", type=int, default=0, help="examples to generate replies for (default 0: all)")
    q.add_argument("--limit", type=int, default=0, help="use only the first N examples (0: all)")
    q.add_argument("--device", default="cpu", help="cpu or cuda")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.add_argument("--save", action="store_true", help="write docs/adapter/eval.md and eval.json")
    q.set_defaults(func=cmd_eval)
    q = asub.add_parser("say", help="one reply of the voice model (settings of the brand's voice.yml)")
    q.add_argument("message", help="what the customer says")
    q.set_defaults(func=cmd_say)
