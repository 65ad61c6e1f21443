"""The brand-voice adapter: training on a tiny model, reload, resume, the guards, the NLG
rendering, the voice data, and the real small model with the committed adapter."""

from __future__ import annotations

import json

import pytest
import torch

from actions import nlg
from adapters import base_model
from adapters import config as cfg
from adapters.guards import missing_facts, placeholders
from adapters.serve import VoiceModel, check_rephrasing
from adapters.train import train
from adapters.voice_data import messages, read_examples
from bot.core.brand import brand_from
from bot.seed.voice import fill, placeholder_values
from tests.fakes import MemoryRedis

BRAND = brand_from("brightbay")
VOICE = BRAND.voice_dir
COMMITTED = BRAND.root / "adapter"


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    """A 2-layer Llama with SmolLM2's tokenizer (and chat template), saved like a HF model."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(base_model.resolve())
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    folder = tmp_path_factory.mktemp("tiny-base")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_config(tiny_base, out, **extra) -> cfg.TrainConfig:
    fields = [
        f"base_model={tiny_base}",
        f"output_dir={out}",
        "max_examples=24",
        "max_length=96",
        "batch_size=4",
        "learning_rate=0.01",
        "warmup_steps=1",
        "device=cpu",
    ]
    return cfg.load(None, fields + [f"{k}={v}" for k, v in extra.items()])


def greedy(model, tokenizer, text="where is my order?", n=8) -> list[int]:
    ids = tokenizer(text, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=n, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    return out[0, ids["input_ids"].shape[1] :].tolist()


def test_training_changes_the_lora_weights_only_and_the_saved_adapter_reproduces_the_output(
    tiny_base, tmp_path
):
    from peft import PeftModel

    fresh, tokenizer = base_model.load(str(tiny_base))
    base_weights = {k: v.clone() for k, v in fresh.state_dict().items()}
    seen = {}
    metrics = train(
        tiny_config(tiny_base, tmp_path / "adapter"),
        progress=False,
        max_steps=3,
        on_step=lambda step, loss, model: seen.update(model=model, loss=loss),
    )
    trained = seen["model"]
    lora = {k: v for k, v in trained.named_parameters() if "lora_" in k}
    assert lora and all(v.requires_grad for v in lora.values())
    # LoRA B starts at zero: training moved it
    assert any(float(v.abs().sum()) > 0 for k, v in lora.items() if "lora_B" in k)
    base_now = {
        k.replace("base_model.model.", "").replace(".base_layer", ""): v
        for k, v in trained.state_dict().items()
        if "lora_" not in k
    }
    for name, weight in base_weights.items():
        assert torch.equal(base_now[name], weight), f"base weight {name} changed"
    assert metrics["steps"] == 3 and metrics["tokens"] > 0 and metrics["trainable_parameters"] > 0

    saved = tmp_path / "adapter"
    assert (saved / "adapter_config.json").exists() and (saved / "adapter_model.safetensors").exists()
    assert "base_model" in (saved / "README.md").read_text() and json.loads(
        (saved / "metrics.json").read_text()
    )
    reloaded = PeftModel.from_pretrained(base_model.load(str(tiny_base))[0], str(saved))
    assert greedy(reloaded, tokenizer) == greedy(trained, tokenizer)
    merged = PeftModel.from_pretrained(base_model.load(str(tiny_base))[0], str(saved)).merge_and_unload()
    assert greedy(merged, tokenizer) == greedy(trained, tokenizer)


def test_training_resumes_from_its_checkpoint(tiny_base, tmp_path, capsys):
    config = tiny_config(tiny_base, tmp_path / "adapter", save_every=1)
    train(config, progress=False, max_steps=2)
    assert (tmp_path / "adapter" / "checkpoint" / "trainer_state.pt").exists()
    capsys.readouterr()
    metrics = train(config, progress=False, max_steps=3)
    assert "resuming from step 1" in capsys.readouterr().out  # the last checkpoint before the end
    assert metrics["steps"] == 3
    other = tiny_config(tiny_base, tmp_path / "adapter", save_every=1, learning_rate=0.02)
    train(other, progress=False, max_steps=1)
    assert "another recipe" in capsys.readouterr().out


def test_a_recipe_with_a_mistake_is_refused_with_the_fields():
    with pytest.raises(cfg.ConfigError, match="unknown field"):
        cfg.load(None, ["epoch=2"])
    with pytest.raises(cfg.ConfigError, match="not a valid int"):
        cfg.load(None, ["lora_r=big"])
    recipe = cfg.load(VOICE / "train.yml", ["epochs=2"])
    assert recipe.epochs == 2.0 and recipe.lora_r == 8


def test_placeholders_and_lost_facts_block_a_generation():
    assert placeholders("Call {{Customer Support Phone Number}} about {order_number}") == [
        "{{Customer Support Phone Number}}",
        "{order_number}",
    ]
    template = "Shall I change the delivery address of order BB-100015 to: 12 Oak Street, Portland, ME 04101?"
    good = "Do you want order BB-100015 delivered to 12 Oak Street, Portland, ME 04101 instead?"
    assert missing_facts(template, good, ["BB-100015", "12 Oak Street, Portland, ME 04101"]) == []
    lost = "Shall I change the address of your order to 12 Oak Street?"
    assert "lost BB-100015" in missing_facts(template, lost, ["BB-100015"])
    added = "Shall I change order BB-100015's address to 12 Oak Street, Portland, ME 04101 within 3 days?"
    assert any(p.startswith("added 3") for p in missing_facts(template, added))
    assert check_rephrasing("Thanks!", "Thanks {{Website Name}}!", [], {}) == ["placeholder {{Website Name}}"]
    assert "meaning drifted" in check_rephrasing("Thanks!", "Bananas.", [], {}, lambda a, b: 0.1)[0]
    # a word of the template turned into a near spelling of itself is a slip, not a rewording
    slipped = check_rephrasing("It has just become late.", "Sorry, it has just became late.", [], {})
    assert slipped == ["slipped 'become' to 'became'"]
    assert check_rephrasing("Say it another way?", "Say it again differently?", [], {}) == []


def test_a_failed_rephrasing_sends_the_template_and_both_are_cached():
    voice = VoiceModel.__new__(VoiceModel)
    voice.settings, voice.id = {"rephrase": {"min_similarity": 0.5}}, "test"
    cache = MemoryRedis()
    template = "Your order BB-100001 ships on 2026-12-01."
    voice.reply = lambda *a, **k: "Your order ships soon."  # lost the number and the date
    result = voice.rephrase(template, ["BB-100001"], lambda a, b: 0.9, cache)
    assert result.text == template and not result.rephrased and "lost BB-100001" in result.problems
    voice.reply = lambda *a, **k: pytest.fail("a cached result is not generated again")
    assert voice.rephrase(template, ["BB-100001"], None, cache).cached
    other = "Thanks for waiting."
    voice.reply = lambda *a, **k: "Thank you for your patience."
    assert voice.rephrase(other, [], lambda a, b: 0.8, cache).text == "Thank you for your patience."


def test_a_rephrasing_cut_by_the_token_limit_or_cheering_before_a_no_is_mended_before_the_checks():
    voice = VoiceModel.__new__(VoiceModel)
    voice.settings, voice.id = {"rephrase": {}}, "test"
    template = "Your order BB-100001 ships on 2026-12-01."
    voice.reply = lambda *a, **k: "Certainly! Your order BB-100001 ships on 2026-12-01. We're here to"
    result = voice.rephrase(template, ["BB-100001"], lambda a, b: 0.9)
    assert result.rephrased and result.text == "Certainly! Your order BB-100001 ships on 2026-12-01."
    refused = "Order BB-100001 is shipped, so it can no longer be cancelled."
    voice.reply = lambda *a, **k: f"Absolutely! {refused}"
    assert voice.rephrase(refused, ["BB-100001"], lambda a, b: 0.9).text == refused


def test_a_template_is_rephrased_once_with_example_values_and_its_placeholders_put_back():
    voice = VoiceModel.__new__(VoiceModel)
    voice.settings, voice.id = {"rephrase": {}}, "test"
    template = "Order {order_number} shipped on {shipped_on} with {carrier}."
    examples = {"order_number": "BB-104417", "shipped_on": "2026-10-06", "carrier": "FedEx", "eta": "x"}
    seen = []
    voice.reply = lambda text, *a, **k: seen.append(text) or f"Great news! {text} Happy shopping!"
    done = voice.rephrase_template(template, examples, lambda a, b: 0.9)
    assert seen == ["Order BB-104417 shipped on 2026-10-06 with FedEx."]  # filled, then rephrased
    assert done.rephrased
    assert (
        done.text
        == "Great news! Order {order_number} shipped on {shipped_on} with {carrier}. Happy shopping!"
    )
    # a value said twice, or dropped, cannot be put back as its placeholder: as written
    voice.reply = lambda text, *a, **k: f"{text} Your FedEx parcel is on its way."
    done = voice.rephrase_template(template, examples, lambda a, b: 0.9)
    assert done.text == template and not done.rephrased and "carrier" in done.problems[0]
    # a slot without an example value, or values that could be mistaken for each other
    assert "no example value for" in voice.rephrase_template(template, {"carrier": "UPS"}).problems[0]
    clash = {**examples, "carrier": "BB-1044"}  # inside the order number
    assert "not told apart" in voice.rephrase_template(template, clash).problems[0]
    assert "not told apart" in voice.rephrase_template("Order {carrier} with FedEx.", examples).problems[0]


def test_nlg_renders_domain_responses_with_slots_buttons_and_the_rephrase_mark():
    request = {
        "response": "utter_ask_confirm_address",
        "arguments": {},
        "tracker": {"slots": {"order_number": "BB-100015", "new_address": "12 Oak Street"}},
        "channel": {"name": "rest"},
    }
    message = nlg.render(request)
    assert message["text"] == "Shall I change the delivery address of order BB-100015 to: 12 Oak Street?"
    assert [b["title"] for b in message["buttons"]] == ["Yes, change it", "No"]
    # a marked template in the brand's wording (written at start) is filled as the template is
    template = "Shall I change the delivery address of order {order_number} to: {new_address}?"
    worded = {template: "Of course! Shall I send order {order_number} to {new_address} instead?"}
    message = nlg.render(request, worded)
    assert message["text"] == "Of course! Shall I send order BB-100015 to 12 Oak Street instead?"
    assert len(message["buttons"]) == 2
    message = nlg.render({"response": "utter_greet", "tracker": {"slots": {}}}, worded)
    assert message["text"].startswith("Hi, I'm Brightbay")  # marked, not written: as written
    # the sample brand marks every text response: each is written once, at start
    for variations in nlg.responses().values():
        for variation in variations:
            assert not variation.get("text") or (variation.get("metadata") or {}).get("rephrase"), variation
    assert nlg.render({"response": "utter_nothing", "tracker": {}}) == {}
    assert (
        nlg.interpolate("order {order_number} {missing}", {"order_number": "BB-1"}) == "order BB-1 {missing}"
    )


def test_nlg_chooses_the_variation_rasa_would_rank_first_as_the_rasa_side_does():
    # the same cases as tests/integration/test_rasa_side_speedups.py, where Rasa renders them
    gold = [{"type": "slot", "name": "tier", "value": "Gold"}]
    two = [{"text": "first"}, {"text": "second"}]
    cond = [{"text": "plain"}, {"text": "for gold", "condition": gold}]
    channel = [{"text": "any"}, {"text": "on rest", "channel": "rest"}]
    slots = {"tier": "gold"}
    assert nlg.choose(two, "rest", slots)["text"] == "first"
    assert nlg.choose(cond, "rest", slots)["text"] == "for gold"
    assert nlg.choose(cond, "rest", {"tier": "silver"})["text"] == "plain"
    assert nlg.choose(channel, "rest", slots)["text"] == "on rest"
    assert nlg.choose(channel, "socketio", slots)["text"] == "any"
    # Rasa's order: this channel without a condition beats a met condition on any channel
    mixed = [{"text": "gold anywhere", "condition": gold}, {"text": "rest", "channel": "rest"}]
    assert nlg.choose(mixed, "rest", slots)["text"] == "rest"
    assert nlg.choose(mixed, "socketio", slots)["text"] == "gold anywhere"


def test_the_voice_data_has_no_placeholder_and_a_fixed_disjoint_held_out_split():
    values = placeholder_values()
    assert fill("Call {{Customer Support Phone Number}}", values) == "Call +1 555 0100 200"
    assert fill("See {{Some Unknown Thing}}", values) is None
    train_set, heldout = read_examples(VOICE / "train.jsonl"), read_examples(VOICE / "heldout.jsonl")
    assert len(train_set) > 2000 and len(heldout) > 200
    assert not any(placeholders(x.reply) or placeholders(x.customer) for x in train_set + heldout)
    assert not {x.customer.lower() for x in train_set} & {x.customer.lower() for x in heldout}


@pytest.fixture(scope="module")
def real_voice() -> VoiceModel:
    if not (COMMITTED / "adapter_config.json").exists():
        pytest.fail("the sample brand's adapter is not committed: run `tandem adapter train`")
    return VoiceModel.load()


def test_the_real_small_model_with_the_committed_adapter_replies_without_placeholders(real_voice):
    voice = real_voice
    assert voice.adapter is not None
    examples = read_examples(VOICE / "heldout.jsonl")[:3]
    for example in examples:
        text, tokens, _ = voice.generate(messages(example.customer), max_new_tokens=24)
        assert text and tokens > 0 and not placeholders(text)


def test_a_knowledge_answer_written_by_the_real_model_is_sent_only_when_the_passages_support_it(real_voice):
    """The voice model writes the answer; the verifier, not the model, decides whether it is
    sent, and the passages' own sentences replace an answer that fails."""
    from knowledge.answer import Retrieval, answer
    from knowledge.store import Hit
    from knowledge.verify import facts

    passage = (
        "Returns and refunds > When do I get my refund?\n\n"
        "Once we receive the item, the refund goes back to your card within 5 to 7 business days."
    )
    hits = [
        Hit(passage, 0.03, {"source": "policies/returns-and-refunds.md", "title": "Returns", "_id": "c1"})
    ]
    question = "when will I get my money back after returning?"
    result = answer(question, Retrieval(question, hits), 0.6, generator=real_voice.knowledge_generator())
    assert result is not None and result.verdict.ok
    assert {f.key for f in facts(result.text)} <= {f.key for f in facts(passage)}
    if result.mode == "extractive":  # the model's answer was refused, and why is kept
        assert result.rejected is not None and "verification" in result.rejected
    else:
        assert result.mode == "generated" and result.rejected is None


def test_constrained_decoding_on_the_real_model_refuses_a_number_the_passages_do_not_have(real_voice):
    from adapters.constrained import FactConstraint

    chat = messages("My order BB-100031 cost $9.99, can you refund it?")
    allowed = FactConstraint(["Express delivery takes 1 to 2 business days and costs $14.95."])
    decode = real_voice.tokenizer.decode
    free = decode(real_voice.decode(chat, max_new_tokens=40).tokens, skip_special_tokens=True)
    invented = allowed.invented(free)
    assert invented, (
        free
    )  # left alone, the model copies the customer's figures (the committed one: "BB-100031")
    held = real_voice.decode(chat, constraint=allowed, max_new_tokens=40)
    text = decode(held.tokens, skip_special_tokens=True)
    assert held.refused > 0 and text.strip(), text
    assert allowed.invented(text) == [], text


def test_the_decoding_loop_writes_what_transformers_generate_writes():
    """adapters.decoding.greedy on the torch decoder (the GPU path) against model.generate,
    both greedy with the repetition penalty, from the real model with the adapter."""
    from adapters.serve import load_voice_settings

    voice = VoiceModel.load({**load_voice_settings(), "decoder": "torch"})
    assert voice.decoder.name == "torch"
    chat = messages("my parcel is late, where is it?")
    ours = voice.decode(chat, max_new_tokens=24, repetition_penalty=1.1).tokens
    prompt = voice.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    inputs = voice.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = voice.model.generate(
            **inputs,
            max_new_tokens=24,
            do_sample=False,
            repetition_penalty=1.1,
            pad_token_id=voice.tokenizer.eos_token_id,
        )
    theirs = out[0, inputs["input_ids"].shape[1] :].tolist()
    assert ours == [t for t in theirs if t not in voice.eos][: len(ours)] and len(ours) == len(
        [t for t in theirs if t not in voice.eos]
    )
