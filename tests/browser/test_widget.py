"""The web widget in a real browser against the real stack: flows by typing and by
clicking, a cited knowledge answer, history across reloads and pages, safe rendering,
handoff, keyboard use, and delivery of what was typed while the server was down."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bot.stack import processes as stack_module
from tests.integration.conversation import email_of, tracker

pytestmark = pytest.mark.stack


def test_a_flow_completed_by_typing(desktop, kb_stack):
    w = desktop
    w.visit()
    w.shot("page")
    w.open()
    w.type("where is my order?")
    assert "order number" in w.last_bot_text()
    w.type("BB-100001")
    w.shot("asked-email")
    w.type(email_of(kb_stack, "BB-100001"))
    assert "BB-100001" in w.page.locator(".tw-log").inner_text()
    assert tracker(kb_stack, w.page.evaluate("TandemWidget.conversationId()"))["latest_action_name"] in (
        "action_listen",
        "action_track_order",
    )
    w.shot("order-status")
    assert not w.errors


def test_a_flow_completed_by_clicking_buttons(phone, kb_stack):
    w = phone
    w.visit()
    w.open()
    w.type("hi")
    expect(w.page.locator(".tw-replies button")).to_have_count(3)
    w.shot("greeting-buttons")
    w.click_reply("Track an order")
    assert "order number" in w.last_bot_text()
    w.type("BB-100019")
    w.type(email_of(kb_stack, "BB-100019"))
    assert "BB-100019" in w.page.locator(".tw-log").inner_text()
    # a second flow whose decision is a button: cancel, then keep the order
    w.type("cancel order BB-100011")
    w.type(email_of(kb_stack, "BB-100011"))
    expect(w.page.locator(".tw-replies button", has_text="No, keep it")).to_be_visible()
    w.shot("confirm-buttons")
    w.click_reply("No, keep it")
    assert "haven't cancelled anything" in w.last_bot_text()
    expect(w.page.locator(".tw-replies button")).to_have_count(0)
    w.shot("kept")


def test_a_knowledge_answer_shows_its_citation_as_a_link(widget):
    w = widget
    w.visit()
    w.open()
    w.type("how long is a gift card valid?")
    answer = w.bot_messages().last
    expect(answer).to_have_attribute("data-route", "knowledge")
    assert "five years" in w.last_bot_text().lower()
    source = answer.locator(".tw-citations li[data-source='policies/gift-cards.md'] a")
    expect(source).to_have_count(1)
    assert source.get_attribute("href").startswith("https://")
    assert source.get_attribute("rel") == "noopener noreferrer"
    w.shot("cited-answer")


def test_the_conversation_survives_a_reload_and_another_page(desktop, kb_stack):
    w = desktop
    w.visit()
    w.open()
    w.type("hi")
    session = w.page.evaluate("TandemWidget.sessionId()")
    w.page.reload()
    expect(w.page.locator(".tw-log .tw-user")).to_have_text(["You: hi"])
    expect(w.bot_messages()).to_have_count(1)
    w.shot("after-reload")
    w.page.click("header.site a[href='/demo/help.html']")
    w.wait_online()
    assert w.page.evaluate("TandemWidget.sessionId()") == session
    expect(w.page.locator(".tw-log .tw-user")).to_have_count(1)
    w.type("how long is a gift card valid?")
    w.shot("other-page")
    conversation = w.page.evaluate("TandemWidget.conversationId()")
    assert session.startswith(conversation + ".")  # the token the server signed
    said = [e["text"] for e in tracker(kb_stack, conversation)["events"] if e["event"] == "user"]
    assert said == ["hi", "how long is a gift card valid?"]


def test_html_from_the_customer_is_shown_as_text(desktop):
    w = desktop
    w.visit()
    w.open()
    attack = "<img src=x onerror=alert(1)>"
    w.type(attack)
    expect(w.page.locator(".tw-log .tw-user .tw-text")).to_have_text([attack])
    assert w.page.locator(".tw-root img").count() == 0
    w.page.wait_for_timeout(500)
    assert w.dialogs == []
    w.shot("injection-as-text")


def test_handoff_shows_that_a_person_takes_over(phone):
    w = phone
    w.visit()
    w.open()
    w.type("I want to talk to a human")
    expect(w.page.locator(".tw-root")).to_have_attribute("data-handoff", "true")
    expect(w.page.locator(".tw-banner.tw-handoff")).to_be_visible()
    w.shot("handoff")


def test_the_widget_works_with_the_keyboard_alone(desktop):
    w = desktop
    w.visit()
    launcher = w.page.locator(".tw-launcher")
    for _ in range(20):  # Tab through the page until the launcher has focus
        if launcher.evaluate("node => node === document.activeElement"):
            break
        w.page.keyboard.press("Tab")
    else:
        pytest.fail("the chat launcher is not reachable with Tab")
    w.page.keyboard.press("Enter")
    w.wait_online()
    expect(w.page.locator(".tw-input")).to_be_focused()
    before = w.bot_messages().count()
    w.page.keyboard.type("hi")
    w.page.keyboard.press("Enter")
    w.wait_reply(before)
    first_reply = w.page.locator(".tw-replies button").first
    for _ in range(10):  # from the message box, Tab reaches the quick replies
        if first_reply.evaluate("node => node === document.activeElement"):
            break
        w.page.keyboard.press("Shift+Tab")
    else:
        pytest.fail("the quick replies are not reachable with Tab")
    before = w.bot_messages().count()
    w.page.keyboard.press("Enter")
    w.wait_reply(before)
    assert "order number" in w.last_bot_text()
    w.page.keyboard.press("Escape")
    expect(w.page.locator(".tw-panel")).to_be_hidden()
    expect(launcher).to_be_focused()
    assert w.page.locator(".tw-log").get_attribute("aria-live") == "polite"


def test_a_message_typed_while_the_server_is_down_is_delivered_when_it_returns(desktop, kb_stack):
    w = desktop
    w.visit()
    w.open()
    rasa = next(c for c in stack_module.components(kb_stack) if c.name == "rasa")
    stack_module.stop(rasa, kb_stack)
    try:
        expect(w.page.locator(".tw-root")).to_have_attribute("data-state", "offline", timeout=30_000)
        w.type("how long is a gift card valid?", wait=False)
        expect(w.page.locator(".tw-log .tw-user .tw-pending")).to_have_count(1)
        expect(w.page.locator(".tw-banner.tw-offline")).to_be_visible()
        w.shot("offline-message-queued")
        w.page.reload()  # nothing is lost on a reload either
        expect(w.page.locator(".tw-log .tw-user .tw-pending")).to_have_count(1)
    finally:
        stack_module.up(kb_stack, only={"rasa"})
    w.wait_online()
    expect(w.bot_messages()).to_have_count(1, timeout=60_000)
    assert "five years" in w.last_bot_text().lower()
    expect(w.page.locator(".tw-log .tw-pending")).to_have_count(0)
    w.shot("delivered-after-reconnect")


def wait_for_voice(stack, timeout: float = 180.0) -> dict:
    """The action server's voice model, once loaded (it loads in the background)."""
    import time

    import requests

    deadline = time.monotonic() + timeout
    while True:
        status = requests.get(f"{stack.actions_url}/health/voice", timeout=5).json()
        if status["loaded"] or time.monotonic() > deadline:
            return status
        time.sleep(1)


@pytest.fixture(scope="module")
def voice_stack(tmp_path_factory):
    """A stack of its own whose voice model writes knowledge answers
    ($TANDEM_KNOWLEDGE_ANSWERS=on: the sample brand's default, set here all the same)."""
    import os

    from bot.core.settings import Settings
    from tests.conftest import refresh_knowledge, running_stack

    os.environ["TANDEM_KNOWLEDGE_ANSWERS"] = "on"
    try:
        with running_stack(
            Settings().brand,
            tmp_path_factory.mktemp("voice-home"),
            tmp_path_factory.mktemp("voice-kb") / "sources",
            rasa_workers=1,
        ) as settings:
            refresh_knowledge(settings)
            yield settings
    finally:
        os.environ.pop("TANDEM_KNOWLEDGE_ANSWERS", None)


RECORD_DRAFTS = """() => {
  window.__drafts = [];
  const log = document.querySelector('.tw-log');
  new MutationObserver(() => {
    const draft = log.querySelector('.tw-draft .tw-text');
    const drafts = window.__drafts;
    if (draft && drafts[drafts.length - 1] !== draft.textContent) drafts.push(draft.textContent);
  }).observe(log, { subtree: true, childList: true, characterData: true });
}"""


def test_a_written_answer_appears_word_by_word_and_the_checked_answer_replaces_it(
    browser, voice_stack, request
):
    from tests.browser.conftest import make_widget

    status = wait_for_voice(voice_stack)
    assert status["loaded"] and status["knowledge_answers"], status
    w = make_widget(browser, voice_stack, request, "desktop")
    w.visit()
    w.open()
    w.page.evaluate(RECORD_DRAFTS)
    w.type("how long is the warranty on a tent?")  # its own stack: not in an answer cache
    drafts = w.page.evaluate("window.__drafts")
    assert len(drafts) >= 3, drafts  # drafts arrived while the answer was being written
    assert all(
        later.startswith(earlier.rstrip()) for earlier, later in zip(drafts, drafts[1:], strict=False)
    ), drafts
    expect(w.page.locator(".tw-draft")).to_have_count(0)  # the checked answer took its place
    expect(w.bot_messages().last).to_have_attribute("data-route", "knowledge")
    w.shot("answered-after-drafts")
