"""Personal data is found and masked (bot/core/privacy.py), and ordinary support talk is not."""

from __future__ import annotations

import json

import pytest
import yaml

from bot.core import privacy
from bot.core.brand import brand_from


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("my card is 4111 1111 1111 1111 and cvv 123", "my card is [card] and cvv [cvv]"),
        ("card 4111-1111-1111-1111, security code: 9876", "card [card], security code: [cvv]"),
        ("5500005555555559", "[card]"),
        ("call me on +1 (555) 123-4567 or 555.123.4567", "call me on [phone] or [phone]"),
        ("phone 07700 900123 please", "phone [phone] please"),
        ("my email is kemi.doyle@example.com", "my email is [email]"),
        ("new address: 12 Oak Street, Portland, ME 04101", "new address: [address]"),
        ("send it to 4 elm rd, apt 3, Springfield.", "send it to [address]."),
    ],
)
def test_personal_data_is_masked(text, masked):
    assert privacy.mask(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "order BB-100031 placed on 2026-11-02 cost $14.95, 3 items",
        "tracking 1Z999AA10123456784",
        "it's 100 meters down the road, 2 days ago",
        "order number 100031 from 12/10/2026",
        "1234567812345678",  # 16 digits that fail the Luhn check are no card
        "delivery takes 3 to 5 business days; returns within 30 days",
    ],
)
def test_ordinary_support_talk_is_left_alone(text):
    assert privacy.mask(text) == text


def test_only_the_kinds_asked_for_are_masked():
    text = "card 4111 1111 1111 1111, mail me at a.b@example.com"
    assert privacy.mask(text, privacy.NOT_NEEDED) == "card [card], mail me at a.b@example.com"
    masked, found = privacy.mask_counted(text)
    assert masked == "card [card], mail me at [email]" and found == {"card": 1, "email": 1}


def test_json_values_are_masked_inside():
    value = {"text": "I'm at 5551234567", "ranking": [["a.b@example.com", 0.5]], "n": 3}
    assert privacy.mask_value(value) == {"text": "I'm at [phone]", "ranking": [["[email]", 0.5]], "n": 3}


@pytest.mark.parametrize("name", ["brightbay", "dmv"])
def test_the_brands_questions_are_untouched_but_for_planted_emails_and_addresses(name):
    brand = brand_from(name)
    texts = [json.loads(line)["question"] for line in brand.qa_file.read_text().splitlines() if line.strip()]
    for path in sorted(brand.nlu_dir.rglob("*.yml")):
        for item in (yaml.safe_load(path.read_text()) or {}).get("nlu") or []:
            texts += [line[2:] for line in (item.get("examples") or "").splitlines() if line.startswith("- ")]
    assert len(texts) > 100
    for text in texts:
        masked, found = privacy.mask_counted(text)
        assert set(found) <= {"email", "address"}, (text, masked)
        if "email" in found:
            assert "(email)" in text  # an NLU example of the email entity
