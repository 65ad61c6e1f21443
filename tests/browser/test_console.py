"""The support team's console in a real browser, against the real stack: a customer in the
widget and agents in the inbox, each in a browser context of its own.

A handoff on request and after failures reaches the queue with its reason; an agent
claims it (a second agent cannot), sees the transcript and the evidence, replies into the
customer's widget in real time (and into the tracker), reads the customer's answer, and
hands back, after which the bot greets the customer and answers again. Feedback on an
answer is stored with its turn. The dashboard shows a conversation that just happened. The
console refuses requests without credentials."""

from __future__ import annotations

import time

import pytest
import requests
from playwright.sync_api import Page, expect

from bot.console import handoffs
from bot.stack import client
from tests.browser.conftest import SHOTS, make_widget
from tests.integration.conversation import tracker

pytestmark = pytest.mark.stack


def agent_page(browser, stack, request, name: str) -> Page:
    """An agent signed in to the inbox, in a browser context of its own."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    request.addfinalizer(context.close)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{stack.actions_url}/agent/")
    expect(page).to_have_url(f"{stack.actions_url}/agent/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=token]", stack.agent_token)
    page.click("button[type=submit]")
    expect(page.locator("#me")).to_have_text(f"Signed in as {name}")
    return page


def conversation_id(widget) -> str:
    return widget.page.evaluate("window.TandemWidget.conversationId()")


def open_in_inbox(page: Page, sender: str):
    item = page.locator(f'#queue li[data-sender="{sender}"]')
    expect(item).to_be_visible(timeout=15_000)
    item.click()
    expect(page.locator("#conversation")).to_be_visible()
    return item


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)


def handed_over(browser, stack, request, size: str, *messages: str):
    """A customer in the widget whose messages end in a handoff."""
    customer = make_widget(browser, stack, request, size)
    customer.visit()
    customer.open()
    for text in messages:
        customer.type(text)
    expect(customer.page.locator(".tw-root")).to_have_attribute("data-handoff", "true")
    return customer


def test_an_agent_takes_over_replies_in_real_time_and_hands_back(browser, kb_stack, request):
    customer = handed_over(
        browser, kb_stack, request, "desktop", "where is my order", "BB-100031", "I want to talk to a person"
    )
    sender = conversation_id(customer)

    sam = agent_page(browser, kb_stack, request, "Sam")
    item = open_in_inbox(sam, sender)
    expect(item).to_contain_text("the customer asked for a person")
    expect(item).to_contain_text("I want to talk to a person")
    expect(sam.locator("#summary")).to_contain_text("order number BB-100031")
    expect(sam.locator("#transcript .customer")).to_have_count(3)
    expect(sam.locator("#evidence")).to_contain_text("flow")
    expect(sam.locator("#reply")).to_be_disabled()
    sam.click("#claim")
    expect(sam.locator("#conv-holder")).to_have_text("held by Sam")

    kim = agent_page(browser, kb_stack, request, "Kim")  # a second agent: cannot take it
    open_in_inbox(kim, sender)
    expect(kim.locator("#conv-holder")).to_have_text("held by Sam")
    expect(kim.locator("#claim")).to_be_disabled()
    expect(kim.locator("#reply")).to_be_disabled()
    refused = kim.evaluate(
        """sender => fetch('/agent/api/conversations/' + encodeURIComponent(sender) + '/claim',
             {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'})
           .then(r => r.status)""",
        sender,
    )
    assert refused == 409

    sam.fill("#reply", "Hi, I'm Sam from the team. Your order BB-100031 left our warehouse today.")
    sam.click("#send")
    from_person = customer.page.locator(".tw-log .tw-agent")
    expect(from_person).to_have_count(1, timeout=10_000)
    expect(from_person).to_contain_text("Sam · a person from our team")
    expect(from_person).to_contain_text("left our warehouse today")
    expect(customer.page.locator(".tw-banner.tw-handoff")).to_be_visible()  # still with a person
    customer.shot("a-person-replies")

    bot_before = customer.bot_messages().count()
    customer.type("great, thank you!", wait=False)
    expect(sam.locator("#transcript .customer .text").last).to_have_text("great, thank you!", timeout=10_000)
    customer.page.wait_for_timeout(1500)
    assert customer.bot_messages().count() == bot_before  # the bot stays quiet meanwhile
    shot(sam, "inbox")

    events = tracker(kb_stack, sender)["events"]
    said = [e for e in events if e["event"] == "bot" and (e.get("metadata") or {}).get("agent") == "Sam"]
    assert [e["text"] for e in said] == [
        "Hi, I'm Sam from the team. Your order BB-100031 left our warehouse today."
    ]

    sam.click("#handback")
    expect(customer.page.locator(".tw-root")).to_have_attribute("data-handoff", "false", timeout=10_000)
    expect(customer.bot_messages().last).to_contain_text("I'm back")
    expect(sam.locator(f'#queue li[data-sender="{sender}"]')).to_have_count(0)
    customer.type("how long is the warranty on a tent?")
    assert "3 years" in customer.last_bot_text()
    customer.shot("back-with-the-assistant")


def test_failed_turns_hand_over_and_reach_the_queue_with_their_reason(browser, kb_stack, request):
    customer = handed_over(browser, kb_stack, request, "phone", "zxqv blorp", "qwfp arst zxcv")
    agent = agent_page(browser, kb_stack, request, "Ana")
    item = open_in_inbox(agent, conversation_id(customer))
    expect(item).to_contain_text("failed to help several times")
    expect(agent.locator("#summary")).to_contain_text("failed to help")


def test_feedback_on_an_answer_is_stored_with_its_turn(browser, kb_stack, request):
    customer = make_widget(browser, kb_stack, request, "desktop")
    customer.visit()
    customer.open()
    customer.type("how long is the warranty on a tent?")
    answer = customer.bot_messages().last
    answer.locator(".tw-thumb[data-value=down]").click()
    answer.locator(".tw-comment").fill("I asked about the rain fly")
    answer.locator(".tw-comment-send").click()
    expect(answer.locator(".tw-thanks")).to_be_visible()
    customer.shot("feedback")
    sender = conversation_id(customer)
    events = _wait_for(
        lambda: tracker(kb_stack, sender)["events"],
        lambda ev: any(e["event"] == "slot" and e["name"] == "feedback" for e in ev),
    )
    rating = next(e for e in events if e["event"] == "slot" and e["name"] == "feedback")["value"]
    rated = [e for e in events if e["event"] == "bot" and e.get("timestamp") == rating["turn"]]
    assert rated and "3 years" in rated[0]["text"]
    assert rating["value"] == "down" and rating["comment"] == "I asked about the rain fly"


def test_the_dashboard_shows_a_conversation_that_just_happened(browser, kb_stack, request):
    agent = agent_page(browser, kb_stack, request, "Lee")
    agent.goto(f"{kb_stack.actions_url}/agent/dashboard?since=1d")
    before = int(agent.locator("#kpi-conversations strong").inner_text())
    customer = make_widget(browser, kb_stack, request, "desktop")
    customer.visit()
    customer.open()
    question = "do you sell spare parts for hovercrafts?"
    customer.type(question)
    agent.reload()
    expect(agent.locator("#kpi-conversations strong")).to_have_text(str(before + 1))
    expect(agent.locator("table.gaps")).to_contain_text(question)
    csv_text = agent.evaluate("fetch('/agent/gaps.csv').then(r => r.text())")
    assert question in csv_text
    shot(agent, "dashboard")


def test_the_console_refuses_requests_without_credentials(kb_stack):
    base = f"{kb_stack.actions_url}/agent"
    assert requests.get(f"{base}/", allow_redirects=False, timeout=10).status_code == 302
    assert requests.get(f"{base}/api/queue", timeout=10).status_code == 401
    assert requests.get(f"{base}/dashboard", allow_redirects=False, timeout=10).status_code == 302
    assert requests.get(f"{base}/gaps.csv", allow_redirects=False, timeout=10).status_code == 302
    assert requests.post(f"{base}/api/conversations/x/claim", json={}, timeout=10).status_code == 401
    forged = {"tandem_agent": "U2Ft.9999999999.0000"}
    assert requests.get(f"{base}/api/queue", cookies=forged, timeout=10).status_code == 401
    wrong = requests.post(f"{base}/login", data={"name": "Eve", "token": "guess"}, timeout=10)
    assert wrong.status_code == 401 and "not right" in wrong.text
    session = requests.Session()
    session.post(f"{base}/login", data={"name": "Sam", "token": kb_stack.agent_token}, timeout=10)
    assert session.get(f"{base}/api/queue", timeout=10).status_code == 200
    # a cross-site form cannot send JSON: an action without it is refused
    assert session.post(f"{base}/api/conversations/x/claim", data="a=b", timeout=10).status_code == 415


def _wait_for(read, done, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_the_handoff_command_hands_back_too(kb_stack):
    sender = "console-cli-handback"
    client.send(kb_stack, sender, "I want to talk to a person")
    store = handoffs.store_for(kb_stack)
    assert sender in {w.sender for w in handoffs.queue(store)}
    said = handoffs.hand_back(kb_stack, store, sender)
    assert said and "back" in said[0]["text"]
    assert sender not in {w.sender for w in handoffs.queue(store)}
    assert client.send(kb_stack, sender, "how long is the warranty on a tent?")
