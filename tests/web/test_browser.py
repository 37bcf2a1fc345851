"""The widget in a real headless Chromium, on a copy of a WordPress review post, against the real bot.

Chromium is Debian's package (/usr/bin/chromium) driven by Playwright for Python, started by
:func:`tests.browser.chromium`: without it these tests are skipped with the reason, except in
CI (CI=true, or MATINEE_REQUIRE_BROWSER=1), where a missing browser is a failure.

Screenshots of the widget (light and dark) are taken on every run; with
MATINEE_UPDATE_SCREENSHOTS=1 they are also written to docs/images/ for the README.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.storage.web import WebRepository
from tests.browser import chromium, keep_screenshot
from tests.e2e._discussions import eventually, wait_rows
from tests.web.conftest import INDEX_PATH, REVIEW_URL, BlogServer, Published

pytestmark = pytest.mark.e2e

WAIT_MS = 15_000


class Page:
    """A blog page open in Chromium, with every request it made recorded."""

    def __init__(self, page: Any, blog: BlogServer, p: Published) -> None:
        self.page = page
        self.blog = blog
        self.p = p
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.console: list[str] = []
        page.on("request", self._record)
        page.on("console", lambda message: self.console.append(message.text))

    async def _record(self, request: Any) -> None:
        self.requests.append((request.url, await request.all_headers()))

    def widget(self, selector: str = "") -> Any:
        return self.page.locator(f".matinee-comments {selector}".strip())

    def comment(self, text: str) -> Any:
        return self.page.locator(".matinee-comments .comment", has_text=text)

    async def live(self) -> None:
        """Wait until the widget shows its comments and its live stream is open."""
        from playwright.async_api import expect

        await expect(self.widget(".live")).to_be_visible(timeout=WAIT_MS)


async def _open(context: Any, blog: BlogServer, p: Published, path: str = "", **query: str) -> Page:
    page = Page(await context.new_page(), blog, p)
    await page.page.goto(blog.url(path, **query) if path else blog.url(**query))
    return page


async def _seed(p: Published) -> dict[str, dict]:
    w = p.world
    first = await p.post(w.member_id, "Loved the **pineapple** scene. The ending: ||she flies to California||")
    reply = await p.post(w.admin_id, "Same here: Faye Wong steals every scene she's in.", reference=int(first["id"]))
    still = await p.post(w.member_id, "Doyle's step-printing, frame by frame:", attachments=[{"filename": "still.png"}])
    await p.double.add_reaction(p.thread_id, int(first["id"]), w.admin_id, "🍍")
    for user, stars in ((w.member_id, 5), (w.admin_id, 4)):
        await p.double.poll_vote(p.thread_id, int(p.opening["id"]), user, stars)
    await p.stored(3)
    await wait_rows(p.bot, p.double, "SELECT 1 FROM poll_votes", count=2)
    await eventually(
        lambda: p.bot.db.fetchval("SELECT reactions FROM comments WHERE message_id = ?", (int(first["id"]),)),
        '{"🍍":1}',
    )
    return {"first": first, "reply": reply, "still": still}


def _own_requests(page: Page) -> None:
    """Nothing left the two loopback origins, and no cookie went to Matinee's server."""
    allowed = {urlsplit(page.blog.origin).netloc, urlsplit(page.p.api).netloc}
    hosts = {urlsplit(url).netloc for url, _ in page.requests if url.startswith("http")}
    assert hosts <= allowed, hosts - allowed
    api_requests = [(url, headers) for url, headers in page.requests if url.startswith(page.p.api)]
    assert api_requests, "the widget made no request to Matinee"
    assert all("cookie" not in headers for _, headers in api_requests), api_requests


async def test_comments_render_nested_and_new_messages_edits_and_deletions_arrive_live(
    published: Published, blog: BlogServer, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    p = published
    seeded = await _seed(p)
    async with chromium(tmp_path) as context:
        # The blog's own cookie (same host, other port) must never travel with the widget's requests.
        await context.add_init_script("document.cookie = 'wordpress_logged_in=secret; path=/'")
        page = await _open(context, blog, p)
        await page.live()
        first = page.comment("Loved the pineapple scene")
        await expect(first).to_have_count(1)
        # Replies nested: the reply is inside the first comment's replies list.
        nested = page.widget(".list > .comment .replies .comment")
        await expect(nested).to_have_count(1)
        await expect(nested).to_contain_text("Faye Wong steals every scene")
        await expect(page.widget("h2 .count")).to_have_text("3 comments")
        await expect(first.locator(".reaction").first).to_have_text("🍍 1")
        await expect(page.widget(".attachments a")).to_have_text("Attachment: still.png")
        await expect(page.widget(".rating .avg")).to_have_text("★ 4.5")
        await expect(page.widget(".rating .votes")).to_have_text("2 votes")
        await expect(page.widget("a.join")).to_have_attribute(
            "href", f"https://discord.com/channels/{p.world.guild_id}/{p.thread_id}"
        )
        await expect(page.widget("a.invite")).to_have_attribute("href", "https://discord.gg/filmclub")
        time = first.locator("time").first
        assert (await time.text_content()) in ("just now", "now") or "ago" in (await time.text_content())
        assert "2026" in (await time.get_attribute("title")) or "20" in (await time.get_attribute("title"))

        # A member posts in the Discord thread: it appears on the open page without a reload.
        navigations = []
        page.page.on("framenavigated", lambda frame: navigations.append(frame.url))
        new = await p.post(p.world.member_id, "Just rewatched it: still perfect.")
        await expect(page.comment("Just rewatched it")).to_have_count(1, timeout=WAIT_MS)
        await expect(page.widget(".list > .comment").first).to_contain_text("Just rewatched it")  # newest first
        await expect(page.widget("h2 .count")).to_have_text("4 comments", timeout=WAIT_MS)

        # An edit applies in place, marked as edited; a deletion removes it.
        await p.double.edit_message(p.thread_id, int(new["id"]), "Just rewatched it: even better the third time.")
        edited = page.comment("even better the third time")
        await expect(edited).to_have_count(1, timeout=WAIT_MS)
        await expect(edited.locator(".edited")).to_have_text("(edited)")
        await p.double.delete_message(p.thread_id, int(seeded["still"]["id"]))
        await expect(page.comment("step-printing")).to_have_count(0, timeout=WAIT_MS)
        await expect(page.widget("h2 .count")).to_have_text("3 comments", timeout=WAIT_MS)
        assert navigations == [], "the page reloaded"
        _own_requests(page)
        assert await context.cookies(p.api) == [c for c in await context.cookies(p.api) if c["name"] != "matinee"]


async def test_a_comment_hidden_by_staff_disappears_from_the_open_page(
    published: Published, blog: BlogServer, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    p = published
    await _seed(p)
    rude = await p.post(p.world.member_id, "This review is rubbish and so are you")
    await p.stored(4)
    async with chromium(tmp_path) as context:
        page = await _open(context, blog, p)
        await page.live()
        await expect(page.comment("rubbish")).to_have_count(1)
        record = await p.double.invoke_command(
            p.world.guild_id, p.thread_id, p.world.admin_id, "Hide from blog", command_type=3, target_id=int(rude["id"])
        )
        assert "Hidden from the blog" in (await record.wait_response(timeout=10))["data"]["content"]
        await expect(page.comment("rubbish")).to_have_count(0, timeout=WAIT_MS)
        await expect(page.comment("Loved the pineapple scene")).to_have_count(1)


HOSTILE = [
    '<img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script>',
    '[a link](javascript:window.__pwned=3) "><svg onload="window.__pwned=4">',
    "<iframe src=\"javascript:parent.__pwned=5\"></iframe> ||<img src=x onerror='window.__pwned=6'>||",
    '`<b onmouseover="window.__pwned=7">code</b>` https://example.com/"onmouseover="window.__pwned=8',
]


async def test_a_hostile_comment_never_runs_script_in_the_blog(
    published: Published, blog: BlogServer, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    p = published
    for text in HOSTILE:
        await p.post(p.world.member_id, text)
    await p.stored(len(HOSTILE))
    async with chromium(tmp_path) as context:
        page = await _open(context, blog, p)
        await page.live()
        await expect(page.widget(".comment")).to_have_count(len(HOSTILE))
        live = await p.post(p.world.admin_id, '<img src=x onerror="window.__pwned=9"> arrived live')
        await expect(page.comment("arrived live")).to_have_count(1, timeout=WAIT_MS)
        assert live
        # Hover and click everything a reader could.
        for spoiler in await page.widget(".spoiler").all():
            await spoiler.click()
        for anchor in await page.widget(".body a").all():
            assert (await anchor.get_attribute("href") or "").startswith(("http://", "https://"))
            await anchor.hover()
        await page.widget(".body code").first.hover()
        assert await page.page.evaluate("window.__pwned") is None
        for tag in ("img", "script", "iframe", "svg", "[onerror]", "[onload]", "[onmouseover]"):
            assert await page.widget(tag).count() == 0, tag
        await expect(page.comment("</script>")).to_have_count(1)  # the markup is shown as text


async def test_spoilers_stay_hidden_until_clicked(published: Published, blog: BlogServer, tmp_path: Path) -> None:
    from playwright.async_api import expect

    p = published
    await _seed(p)
    async with chromium(tmp_path) as context:
        page = await _open(context, blog, p)
        await page.live()
        spoiler = page.widget(".spoiler").first
        await expect(spoiler).to_have_text("she flies to California")  # in the DOM, but not visible:
        assert await spoiler.evaluate("e => getComputedStyle(e).color") == "rgba(0, 0, 0, 0)"
        await expect(spoiler).not_to_have_class("spoiler revealed")
        await spoiler.click()
        await expect(spoiler).to_have_class("spoiler revealed")
        assert await spoiler.evaluate("e => getComputedStyle(e).color") != "rgba(0, 0, 0, 0)"


async def test_counts_fill_an_index_page_in_one_request(published: Published, blog: BlogServer, tmp_path: Path) -> None:
    from playwright.async_api import expect

    p = published
    await _seed(p)
    async with chromium(tmp_path) as context:
        page = await _open(context, blog, p, INDEX_PATH)
        counts = page.page.locator(".matinee-count")
        await expect(counts.nth(0)).to_have_text("3 comments · ★ 4.5", timeout=WAIT_MS)
        await expect(counts.nth(1)).to_have_text("0 comments")
        await expect(counts.nth(2)).to_have_text("0 comments")
        calls = [url for url, _ in page.requests if "/v1/counts" in url]
        assert len(calls) == 1 and calls[0].count("url=") == 3
        _own_requests(page)


async def test_dark_mode_applies_and_the_blog_css_stays_out(
    published: Published, blog: BlogServer, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    p = published
    await _seed(p)
    shots = {}
    for theme, scheme in (("light", "light"), ("dark", "light"), ("auto", "dark")):
        async with chromium(tmp_path / theme, color_scheme=scheme) as context:
            page = await _open(context, blog, p, theme=theme)
            await page.live()
            root = page.widget(".root")
            background = await root.evaluate("e => getComputedStyle(e).backgroundColor")
            expected = "rgb(255, 255, 255)" if theme == "light" else "rgb(30, 31, 34)"
            assert background == expected, (theme, scheme, background)
            # The theme's `li { color: #b00020 !important; font-family: Comic Sans }` never reaches a comment.
            comment = page.widget(".comment").first
            assert await comment.evaluate("e => getComputedStyle(e).color") != "rgb(176, 0, 32)"
            assert "Comic" not in await comment.evaluate("e => getComputedStyle(e).fontFamily")
            await expect(page.widget("button.more")).to_be_hidden()  # three comments: nothing more to show
            if theme != "auto":
                await page.page.locator(".matinee-comments").scroll_into_view_if_needed()
                path = tmp_path / f"widget-{theme}.png"
                await page.page.locator(".matinee-comments").screenshot(path=str(path))
                shots[theme] = path
    for theme, path in shots.items():
        assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        keep_screenshot(path, f"widget-{theme}.png")


async def test_without_event_source_the_widget_polls(published: Published, blog: BlogServer, tmp_path: Path) -> None:
    from playwright.async_api import expect

    p = published
    await _seed(p)
    async with chromium(tmp_path) as context:
        await context.add_init_script("delete window.EventSource")
        page = await _open(context, blog, p)
        await expect(page.comment("Loved the pineapple scene")).to_have_count(1, timeout=WAIT_MS)
        await p.post(p.world.member_id, "Seen through polling")
        await expect(page.comment("Seen through polling")).to_have_count(1, timeout=WAIT_MS)
        assert not [url for url, _ in page.requests if "/v1/events" in url]


async def test_the_widget_loads_lazily_and_shows_more_on_request(
    published: Published, blog: BlogServer, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    p = published
    for n in range(55):
        await p.post(p.world.member_id, f"comment number {n}")
    await p.stored(55)
    async with chromium(tmp_path, viewport={"width": 900, "height": 300}) as context:
        page = await _open(context, blog, p)
        await page.page.wait_for_load_state("load")
        # Far below a short viewport: nothing is fetched until the reader scrolls near it.
        await expect(page.widget(".status")).to_have_text("Loading the discussion…")
        assert not [url for url, _ in page.requests if "/v1/comments" in url]
        await page.page.locator(".matinee-comments").scroll_into_view_if_needed()
        await expect(page.widget(".list > .comment")).to_have_count(50, timeout=WAIT_MS)
        await expect(page.widget(".list > .comment").first).to_contain_text("comment number 54")
        await page.widget("button.more").click()
        await expect(page.widget(".list > .comment")).to_have_count(55, timeout=WAIT_MS)
        await expect(page.widget("button.more")).to_be_hidden()


async def test_publishing_turned_off_empties_the_open_page(
    published: Published, blog: BlogServer, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    p = published
    await _seed(p)
    async with chromium(tmp_path) as context:
        page = await _open(context, blog, p)
        await page.live()
        await WebRepository(p.bot.db).update_guild(p.world.guild_id, publish=False)
        await expect(page.widget(".comment")).to_have_count(0, timeout=WAIT_MS)
        await expect(page.widget("a.join")).to_have_count(0)
        assert REVIEW_URL


@pytest.mark.parametrize("live", ["event stream", "polling"])
async def test_a_withdrawn_review_empties_the_open_page(
    published: Published, blog: BlogServer, tmp_path: Path, live: str
) -> None:
    """Its Markdown file was deleted: the open page shows none of its discussion (and stops listening)."""
    from playwright.async_api import expect

    from bot.storage import ReviewRepository

    p = published
    await _seed(p)
    async with chromium(tmp_path) as context:
        if live == "polling":
            await context.add_init_script("delete window.EventSource")
        page = await _open(context, blog, p)
        await expect(page.comment("Loved the pineapple scene")).to_have_count(1, timeout=WAIT_MS)
        if live == "event stream":
            await page.live()
        await ReviewRepository(p.bot.db).set_withdrawn([p.review.id], True)
        await expect(page.widget(".status")).to_have_text("This discussion is no longer shown here.", timeout=60_000)
        await expect(page.widget(".comment")).to_have_count(0)
        await expect(page.widget("a.join")).to_have_count(0)
        await expect(page.widget(".rating")).to_be_hidden()
        await expect(page.widget(".live")).to_be_hidden()
