"""Brands other than the sample store, on their own real stacks: the second sample brand
(bot/brands/dmv/) and a brand freshly made by `tandem new`. Each trains its own model,
serves, and passes its own stories and conversations, with no code of its own outside its
folder (the help desk's one action is its actions.py)."""

from __future__ import annotations

import os

import pytest
import requests

from bot.core.brand import BRANDS_DIR, brand_from
from bot.stack import conversation_tests as ct
from bot.stack import training
from bot.stack.client import rest_headers
from bot.tandem.new import scaffold
from tests.conftest import refresh_knowledge, running_stack

pytestmark = pytest.mark.stack

DMV = brand_from("dmv")
DMV_CONVERSATIONS = ct.load([DMV.conversations_dir])


@pytest.fixture(scope="module")
def dmv_stack(tmp_path_factory):
    """The help desk's stack, with its REST channel requiring its token, as it does where
    Rasa listens beyond loopback: every conversation test below sends it (bot/stack/client.py)."""
    sources = tmp_path_factory.mktemp("dmv-kb") / "sources"
    os.environ["TANDEM_REST_REQUIRE_TOKEN"] = "1"
    try:
        with running_stack(DMV, tmp_path_factory.mktemp("dmv-home"), sources) as settings:
            refresh_knowledge(settings)
            yield settings, sources
    finally:
        os.environ.pop("TANDEM_REST_REQUIRE_TOKEN", None)


def test_a_rest_channel_that_requires_its_token_refuses_a_request_without_it(dmv_stack):
    settings, _ = dmv_stack
    url = f"{settings.rasa_url}/webhooks/rest/webhook"
    body = {"sender": "no-token", "message": "hello"}
    assert requests.post(url, json=body, timeout=30).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert requests.post(url, json=body, headers=wrong, timeout=30).status_code == 401
    assert requests.post(url, json=body, headers=rest_headers(settings), timeout=60).status_code == 200


def test_the_help_desk_s_stories_pass(dmv_stack, tmp_path):
    settings, _ = dmv_stack
    result = ct.run_stories(settings, training.current_model(settings), tmp_path)
    assert result.total >= 5 and result.passed, f"{result.failed}\n{result.output}"


@pytest.mark.parametrize("conversation", DMV_CONVERSATIONS, ids=[c.name for c in DMV_CONVERSATIONS])
def test_the_help_desk_s_conversations(dmv_stack, conversation):
    settings, sources = dmv_stack
    result = ct.Runner(settings, sources).run(conversation)
    assert result.passed, "\n" + ct.summary([result])


def test_the_help_desk_has_its_own_flow_and_shares_the_order_flows():
    flows = DMV.flows()
    assert {"track_order", "cancel_order", "report_lost_plates"} <= flows.intents
    assert DMV.actions_file.exists() and "action_report_lost_plates" in DMV.actions_file.read_text()
    assert DMV.order_numbers().find("my plates order pl 123456") == "PL-123456"
    assert DMV.root.parent == BRANDS_DIR


def test_a_brand_made_by_tandem_new_trains_serves_and_passes_its_tests(tmp_path):
    folder = tmp_path / "acme"
    scaffold("acme", "Acme", folder)
    brand = brand_from(str(folder))
    conversations = ct.load([brand.conversations_dir])
    with running_stack(brand, tmp_path / "home", tmp_path / "sources", tmp_path / "models") as settings:
        refresh_knowledge(settings)
        stories = ct.run_stories(settings, training.current_model(settings), tmp_path / "stories")
        assert stories.passed, f"{stories.failed}\n{stories.output}"
        results = ct.run_all(ct.Runner(settings, tmp_path / "sources"), conversations)
    assert len(results) >= 4 and all(r.passed for r in results), ct.summary(results)
