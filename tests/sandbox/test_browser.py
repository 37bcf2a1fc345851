"""The sandbox in a real headless Chromium, used the way a visitor uses it.

One sandbox (the real bot against the double) and one browser serve the module; each test
opens the page afresh. A test waits on what the page shows, never on time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.sandbox import Sandbox
from tests.browser import chromium, keep_screenshot
from tests.sandbox.conftest import opening, seeded, start_sandbox, threads

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

WAIT_MS = 20_000


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox() -> AsyncIterator[Sandbox]:
    running = await start_sandbox(publish_after=300.0)  # the held-back review stays back while the tests run
    try:
        await seeded(running, 3)
        yield running
    finally:
        await running.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    async with chromium(tmp_path_factory.mktemp("chromium"), viewport={"width": 1400, "height": 860}) as context:
        yield context


class Page:
    """The sandbox's page in a tab, acting as one person."""

    def __init__(self, page: Any, sandbox: Sandbox) -> None:
        self.page = page
        self.sandbox = sandbox
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def loads(self, *, main: bool) -> list[str]:
        """The URLs the page (``main``) or its blog frame navigates to from now on."""
        seen: list[str] = []

        def navigated(frame: Any) -> None:
            if (frame == self.page.main_frame) == main:
                seen.append(frame.url)

        self.page.on("framenavigated", navigated)
        return seen

    def message(self, text: str) -> Any:
        return self.page.locator("#messages .message", has_text=text)

    async def act_as(self, name: str) -> None:
        label = "You (server owner)" if name == "You" else name
        await self.page.locator("#person").select_option(label=label)

    async def open(self, channel: str) -> None:
        from playwright.async_api import expect

        await self.page.locator("#channels .channel", has_text=channel).first.click()
        await expect(self.page.locator("#channel-name")).to_contain_text(channel)

    async def say(self, text: str, *, shows: str | None = None) -> None:
        """Type and send ``text``; wait until the channel shows it (``shows``: its text once rendered)."""
        from playwright.async_api import expect

        await self.page.locator("#input").fill(text)
        await self.page.locator("#input").press("Enter")
        await expect(self.message(shows or text).last).to_be_visible(timeout=WAIT_MS)

    async def command(self, name: str) -> Any:
        """Pick ``/name`` from the command list; returns the command's form."""
        await self.page.locator("#input").fill("/" + name.split()[0][:3])
        await self.page.locator(f'#picker .pick[data-command="{name}"]').click()
        return self.page.locator("#command-form")


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Any, sandbox: Sandbox) -> AsyncIterator[Page]:
    from playwright.async_api import expect

    tab = await browser.new_page()
    opened = Page(tab, sandbox)
    await tab.goto(sandbox.url)
    await expect(tab.locator("#messages .message").first).to_be_visible(timeout=WAIT_MS)
    await opened.act_as("Rosa")
    yield opened
    assert opened.errors == []
    await tab.close()


async def test_it_opens_on_the_announced_reviews_and_their_threads(page: Page) -> None:
    from playwright.async_api import expect

    titles = page.page.locator("#messages .embed-title")
    await expect(titles).to_have_count(3)
    for title in ("Chungking Express: A Love Letter", "Paris, Texas", "Stalker"):
        await expect(titles.filter(has_text=title)).to_have_count(1)
    await expect(page.page.locator("#channels .channel.thread")).to_have_count(3)
    await page.page.locator("#messages .thread-chip", has_text="Chungking Express").click()
    await expect(page.page.locator("#channel-name")).to_have_text("What did you think of Chungking Express?")
    await expect(page.page.locator("#messages .poll .poll-question")).to_contain_text("How many stars")


async def test_film_autocompletes_and_shows_the_card(page: Page) -> None:
    from playwright.async_api import expect

    await page.open("general")
    form = await page.command("film")
    await form.locator('input[name="title"]').press_sequentially("chung", delay=30)
    choice = form.locator(".choice", has_text="Chungking Express (1994)")
    await expect(choice).to_be_visible(timeout=WAIT_MS)
    await choice.click()
    await form.locator('button[type="submit"]').click()
    card = page.message("Rosa used /film").last
    await expect(card.locator(".embed-title")).to_have_text("Chungking Express (1994)", timeout=WAIT_MS)
    await expect(card.locator(".embed")).to_contain_text("Wong Kar-wai")


async def test_voting_in_a_poll_counts_the_vote(page: Page, sandbox: Sandbox) -> None:
    from playwright.async_api import expect

    await page.open("Stalker")
    five = page.page.locator(".poll .poll-answer").nth(4)
    await five.click()
    await expect(five).to_have_attribute("aria-pressed", "true", timeout=WAIT_MS)
    await expect(five.locator(".poll-count")).to_have_text("1 · 100%")
    thread = next(t for t in threads(sandbox) if "Stalker" in t["name"])
    poll = opening(sandbox, thread)
    assert poll is not None and sandbox.double is not None and sandbox.world is not None
    assert sandbox.double.poll_voters(int(poll["id"]), 5) == [sandbox.world.member_ids[0]]


async def test_ask_answers_without_a_model(page: Page) -> None:
    from playwright.async_api import expect

    await page.open("general")
    form = await page.command("ask")
    await form.locator('input[name="question"]').fill("Which review talks about pineapple tins?")
    await form.locator('button[type="submit"]').click()
    answer = page.message("Rosa used /ask").last
    await expect(answer.locator(".embed").first).to_contain_text("Chungking Express", timeout=WAIT_MS)
    await expect(answer.locator(".thinking")).to_have_count(0)


async def test_mentioning_matinee_gets_an_answer_without_a_model(page: Page) -> None:
    from playwright.async_api import expect

    await page.open("general")
    await page.say("@Matinee which review has pineapple tins?", shows="which review has pineapple tins?")
    question = page.message("which review has pineapple tins?").last
    await expect(question.locator(".md-mention")).to_have_text("@Matinee")  # typed @Matinee became a mention
    answer = page.message("From the reviews").last
    await expect(answer.locator(".embed").first).to_contain_text("Chungking Express", timeout=WAIT_MS)
    await expect(answer.locator(".reply-preview")).to_contain_text("which review has pineapple tins?")


async def test_buttons_on_a_private_answer_update_it(page: Page) -> None:
    from playwright.async_api import expect

    await page.open("general")
    await page.act_as("Theo")
    form = await page.command("forget-me")
    await form.locator('button[type="submit"]').click()
    question = page.message("Theo used /forget-me").last
    await expect(question.locator(".ephemeral-note")).to_contain_text("Only you can see this", timeout=WAIT_MS)
    await question.get_by_role("button", name="Cancel").click()
    await expect(question).to_contain_text("Nothing was erased.", timeout=WAIT_MS)
    await expect(question.get_by_role("button", name="Cancel")).to_be_disabled()
    await page.act_as("Rosa")  # someone else's private answer is not shown to others
    await expect(page.message("Theo used /forget-me")).to_have_count(0)


async def test_replying_editing_and_deleting_your_own_message(page: Page) -> None:
    from playwright.async_api import expect

    await page.open("general")
    await page.say("The phone-booth scene wrecked me")
    found = page.message("The phone-booth scene wrecked me").last
    mine = page.page.locator(f'[data-message-id="{await found.get_attribute("data-message-id")}"]')
    await mine.hover()
    await mine.get_by_role("button", name="Edit").click()
    box = mine.locator("textarea")
    await box.fill("The peep-show booth scene wrecked me")
    await box.press("Enter")
    await expect(page.message("peep-show booth").locator(".edited")).to_be_visible(timeout=WAIT_MS)
    await page.message("peep-show booth").hover()
    await page.message("peep-show booth").get_by_role("button", name="Reply").click()
    await page.say("Same, and Ry Cooder's guitar")
    await expect(page.message("Ry Cooder").locator(".reply-preview")).to_contain_text("peep-show booth")
    page.page.once("dialog", lambda dialog: dialog.accept())
    await page.message("Ry Cooder").hover()
    await page.message("Ry Cooder").get_by_role("button", name="Delete").click()
    await expect(page.message("Ry Cooder")).to_have_count(0, timeout=WAIT_MS)


async def test_member_content_is_shown_as_text_and_markdown_never_runs(page: Page) -> None:
    from playwright.async_api import expect

    await page.open("general")
    hostile = '<img src=x onerror="window.pwnedBySandbox=1"> [click](javascript:window.pwnedBySandbox=1)'
    await page.say(hostile)
    shown = page.message("onerror").last
    await expect(shown).to_contain_text(hostile)  # the markup shows, as text
    assert await shown.locator("img, a[href^='javascript']").count() == 0
    await page.say("**bold** *it* __under__ ~~gone~~ `code` ||the end|| > not a quote", shows="> not a quote")
    styled = page.message("> not a quote").last.locator(".markdown")
    for selector in ("strong", "em", "u", "s", "code", ".md-spoiler"):
        await expect(styled.locator(selector)).to_have_count(1)
    spoiler = styled.locator(".md-spoiler")
    await expect(spoiler).not_to_have_class("md-spoiler revealed")
    await spoiler.click()
    await expect(spoiler).to_have_class("md-spoiler revealed")
    assert await page.page.evaluate("window.pwnedBySandbox") is None


async def test_live_updates_arrive_without_a_reload(page: Page, sandbox: Sandbox) -> None:
    from playwright.async_api import expect

    await page.open("Chungking Express")
    navigations = page.loads(main=True)
    thread = next(t for t in threads(sandbox) if "Chungking" in t["name"])
    assert sandbox.double is not None and sandbox.world is not None
    await sandbox.double.post_message(int(thread["id"]), sandbox.world.member_ids[1], "Theo, typing elsewhere")
    await expect(page.message("Theo, typing elsewhere")).to_be_visible(timeout=WAIT_MS)
    assert navigations == []


async def test_a_comment_in_the_thread_appears_on_the_blog_without_a_reload(page: Page) -> None:
    from playwright.async_api import expect

    await page.open("Chungking Express")
    await page.page.locator("#tab-blog").click()
    frame = page.page.frame_locator("#blog-frame")
    await expect(frame.locator("h1")).to_contain_text("Chungking Express: A Love Letter", timeout=WAIT_MS)
    await expect(frame.locator(".matinee-comments .live")).to_be_visible(timeout=WAIT_MS)
    loads = page.loads(main=False)
    await page.page.locator("#tab-chat").click()
    await page.say("Watched it again tonight: still perfect")
    await page.page.locator("#tab-blog").click()
    comment = frame.locator(".matinee-comments .comment", has_text="Watched it again tonight")
    await expect(comment).to_be_visible(timeout=WAIT_MS)
    assert loads == []  # the blog page was not reloaded: the widget received the comment live


async def test_screenshot_for_the_readme(page: Page, sandbox: Sandbox, tmp_path: Path) -> None:
    from playwright.async_api import expect

    await page.open("Chungking Express")
    await page.say("Faye blasting *California Dreamin'* while she cleans his flat: the best scene of the 90s.",
                   shows="the best scene of the 90s")
    await page.act_as("Theo")
    reply_to = page.message("California Dreamin'").last
    await reply_to.hover()
    await reply_to.get_by_role("button", name="Reply").click()
    await page.say("And the pineapple tins expiring on May 1st. ||He eats all thirty of them.||",
                   shows="expiring on May 1st")
    await page.page.locator(".poll .poll-answer").nth(4).click()
    await expect(page.page.locator(".poll .poll-answer").nth(4)).to_have_attribute("aria-pressed", "true")
    await page.page.locator("#tab-both").click()
    comments = page.page.frame_locator("#blog-frame").locator(".matinee-comments .comment")
    await expect(comments.filter(has_text="expiring on May 1st").last).to_be_visible(timeout=WAIT_MS)  # a nested reply
    await comments.first.scroll_into_view_if_needed()
    await page.page.mouse.move(5, 855)  # no hover toolbar in the picture
    await shoot(page, tmp_path, "sandbox.png")


async def test_screenshots_of_the_loop_for_the_readme(page: Page, tmp_path: Path) -> None:
    """announcement.png, thread.png, widget.png: a review announced, discussed, and the comment on the blog."""
    from playwright.async_api import expect

    await page.page.set_viewport_size({"width": 1200, "height": 900})
    await page.open("reviews")
    title = page.page.locator(".embed-title", has_text="Paris, Texas")
    announcement = page.page.locator("#messages .message", has=title)
    await expect(announcement.locator(".thread-chip")).to_be_visible(timeout=WAIT_MS)
    await announcement.evaluate("element => element.scrollIntoView({block: 'start'})")
    await page.page.mouse.move(5, 895)  # no hover toolbar in the pictures
    await shoot(page, tmp_path, "announcement.png")

    await announcement.locator(".thread-chip").click()
    await expect(page.page.locator("#channel-name")).to_have_text("What did you think of Paris, Texas?")
    await page.act_as("Theo")
    five = page.page.locator(".poll .poll-answer").nth(4)
    await five.click()
    await expect(five).to_have_attribute("aria-pressed", "true", timeout=WAIT_MS)
    comment = "Nastassja Kinski behind the one-way mirror, and he can't look at her. Devastating."
    await page.say(comment, shows="he can't look at her")
    await page.act_as("Rosa")
    theo = page.message("he can't look at her").last
    await theo.hover()
    await theo.get_by_role("button", name="Reply").click()
    await page.say("And Ry Cooder's guitar doing half the talking.", shows="half the talking")
    await page.page.mouse.move(5, 895)
    await shoot(page, tmp_path, "thread.png")

    await page.page.locator("#tab-blog").click()
    widget = page.page.frame_locator("#blog-frame").locator(".matinee-comments")
    await expect(widget.locator(".comment", has_text="half the talking").last).to_be_visible(timeout=WAIT_MS)
    await expect(widget).not_to_contain_text("No votes yet", timeout=WAIT_MS)
    await widget.scroll_into_view_if_needed()
    await shoot(page, tmp_path, "widget.png")


async def shoot(page: Page, directory: Path, name: str) -> None:
    """A screenshot of the tab as it is, kept in docs/images when asked (MATINEE_UPDATE_SCREENSHOTS=1)."""
    shot = directory / name
    await page.page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    keep_screenshot(shot, name)
