"""A real browser (Debian's Chromium, headless, driven by Playwright) on the demo site of
the real stack. Screenshots of every step go to results/screenshots/ (CI keeps them)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from bot.core.settings import ROOT

CHROMIUM = os.environ.get("TANDEM_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("TANDEM_SCREENSHOTS", ROOT / "results" / "screenshots"))
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
REPLY_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    """Module scope: Playwright's sync API runs an event loop while it is open, which
    would break the asyncio tests that run after the browser tests."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `python3 bot/stack/bootstrap.py --browser` installs Chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class Widget:
    """The widget on a page of the demo site, used as a customer would."""

    def __init__(self, page: Page, base_url: str, size: str, test_name: str) -> None:
        self.page = page
        self.base_url = base_url
        self.size = size
        self.test_name = re.sub(r"\W+", "-", test_name).strip("-")
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.steps = 0

    def visit(self, page: str = "") -> None:
        self.page.goto(f"{self.base_url}/demo/{page}")
        expect(self.page.locator(".tw-launcher")).to_be_visible()

    def open(self) -> None:
        if self.page.locator(".tw-panel").is_hidden():
            self.page.click(".tw-launcher")
        self.wait_online()

    def wait_online(self) -> None:
        expect(self.page.locator(".tw-root")).to_have_attribute("data-state", "online", timeout=30_000)

    def bot_messages(self):
        return self.page.locator(".tw-log .tw-bot")

    def type(self, text: str, wait: bool = True) -> None:
        """Type a message and press Enter; wait for the bot's reply to this turn."""
        before = self.bot_messages().count()
        self.page.fill(".tw-input", text)
        self.page.press(".tw-input", "Enter")
        if wait:
            self.wait_reply(before)

    def click_reply(self, title: str) -> None:
        before = self.bot_messages().count()
        self.page.locator(".tw-replies button", has_text=title).click()
        self.wait_reply(before)

    def wait_reply(self, before: int) -> None:
        expect(self.bot_messages()).not_to_have_count(before, timeout=REPLY_TIMEOUT_MS)
        # the rest of the turn (a form's next question, the citations) follows at once
        self.page.wait_for_timeout(700)

    def last_bot_text(self) -> str:
        return self.bot_messages().last.locator(".tw-text").inner_text()

    def shot(self, step: str) -> Path:
        self.steps += 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{self.test_name}-{self.size}-{self.steps:02d}-{step}.png"
        self.page.screenshot(path=str(path))
        return path


def make_widget(browser, stack, request, size: str) -> Widget:
    context = browser.new_context(viewport=SIZES[size], is_mobile=size == "phone")
    request.addfinalizer(context.close)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return Widget(page, stack.actions_url, size, request.node.originalname)


@pytest.fixture
def desktop(browser, kb_stack, request) -> Widget:
    return make_widget(browser, kb_stack, request, "desktop")


@pytest.fixture
def phone(browser, kb_stack, request) -> Widget:
    return make_widget(browser, kb_stack, request, "phone")


@pytest.fixture(params=sorted(SIZES))
def widget(browser, kb_stack, request) -> Widget:
    return make_widget(browser, kb_stack, request, request.param)
