"""`tandem bench gate`: dataset handling, scoring, and the gate over CLINC-style evidence."""

from __future__ import annotations

import json

import pytest
import yaml

from bot.bench import gate as bench_gate
from bot.bench.gate import OOS, DatasetError, load_dataset, scores, training_rows, write_nlu
from bot.core.brand import brand_from
from bot.gate.evidence import Evidence
from bot.gate.thresholds import load_thresholds


def dataset(tmp_path, **changes):
    data = {
        "train": [["book a flight to oslo", "book_flight"], ["what's the weather", "weather"]] * 3,
        "val": [["fly me to rome", "book_flight"]],
        "test": [["weather tomorrow?", "weather"]],
        "oos_train": [["how do i bake bread", "oos"]],
        "oos_val": [["sing a song", "oos"]],
        "oos_test": [["who won the game", "oos"]],
        **changes,
    }
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    return path


def test_a_dataset_without_a_key_or_with_bad_rows_is_refused_by_name(tmp_path):
    data = json.loads(dataset(tmp_path).read_text())
    del data["oos_val"]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="oos_val"):
        load_dataset(tmp_path / "bad.json")
    with pytest.raises(DatasetError, match="not \\[text, intent\\]"):
        load_dataset(dataset(tmp_path, test=[["only text"]]))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(DatasetError, match="cannot read"):
        load_dataset(tmp_path / "broken.json")


def test_training_rows_take_oos_train_as_out_of_scope_and_can_be_capped(tmp_path):
    data = load_dataset(dataset(tmp_path), max_per_intent=2)
    rows = training_rows(data)
    assert sum(i == "book_flight" for _, i in rows) == 2 and ("how do i bake bread", OOS) in rows


def test_the_nlu_file_is_rasa_yaml_with_literal_text(tmp_path):
    write_nlu(
        [("book [a] flight (now)", "book_flight"), ("hi", "greet"), ("hi", "greet")], tmp_path / "nlu.yml"
    )
    nlu = yaml.safe_load((tmp_path / "nlu.yml").read_text())["nlu"]
    assert nlu[1] == {"intent": "greet", "examples": "- hi\n"}
    assert "[" not in bench_gate.clean("book [a] flight (now)")


def test_scores_count_the_right_intent_and_out_of_scope_recall():
    truth = ["weather", "book_flight", OOS, OOS]
    assert scores(truth, ["weather", OOS, OOS, "weather"]) == {
        "in_scope_accuracy": 0.5,
        "out_of_scope_recall": 0.5,
        "in_scope_messages": 2,
        "out_of_scope_messages": 2,
    }


def test_the_gate_turns_a_hesitant_or_far_message_out_of_scope():
    brand = brand_from("brightbay")
    t = load_thresholds(brand.gate_file)
    confident = Evidence(
        "weather tomorrow?",
        [("weather", 0.95), ("book_flight", 0.01)],
        nn_intent="weather",
        nn_similarity=0.8,
    )
    far = Evidence(
        "who won the game", [("weather", 0.95), ("x", 0.01)], nn_intent="weather", nn_similarity=0.1
    )
    hesitant = Evidence(
        "hmm", [("weather", 0.3), ("book_flight", 0.28)], nn_intent="book_flight", nn_similarity=0.5
    )
    assert bench_gate.gate_predictions([confident, far, hesitant], t, brand.flows()) == ["weather", OOS, OOS]
