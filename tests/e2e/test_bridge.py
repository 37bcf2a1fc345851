"""Two doors, one conversation: blog comments mirrored into the review's thread, end to end.

The real bot against the Discord double and a loopback WordPress-shaped blog (a posts
feed with ``wfw:commentRss`` and per-post comment feeds with ETags). The blog's newest
post is announced; its thread opens; its comment feed is read.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import discord
import pytest

from bot.discord_double import DiscordDouble
from tests.doubles.feed_server import FeedServer
from tests.doubles.wordpress import WordPressSite
from tests.e2e.bridge_support import (
    SLUG,
    TITLE,
    blog_comments,
    bridge_turns,
    discussed_review,
    eventually_row,
    mirror_text,
    mirrors,
    settled,
    wait_mirrors,
)
from tests.e2e.reviews_support import run_command

pytestmark = pytest.mark.e2e

FAYE = "First! The *California* song."  # as stored: the blog's HTML in Discord's Markdown
TONY = "The pineapple tins, every one expiring on May 1st."


@pytest.fixture
def site(feeds: FeedServer) -> WordPressSite:
    blog = WordPressSite(feeds)
    blog.add_post("rear-window", "Rear Window: Neighbours", hours=-48)
    blog.add_post(SLUG, TITLE)
    blog.add_comment(SLUG, "Faye", "<p>First! The <em>California</em> song.</p>", hours=1)
    blog.add_comment(SLUG, "Tony", "<p>The pineapple tins, every one expiring on May 1st.</p>", hours=2)
    return blog


async def document(review: SimpleNamespace) -> dict:
    exporter = review.bot.get_cog("Discussions").discussions.exporter
    stored = await exporter.find_review(str(review.review_id))
    return await exporter.document(stored)


async def test_existing_comments_are_stored_not_posted_and_a_new_one_appears_once_with_replies_nested(
    double: DiscordDouble, world, run_bot, site: WordPressSite, feeds: FeedServer
) -> None:
    review = await discussed_review(double, world, run_bot, site)
    assert [(a, d) for a, _, d in await blog_comments(review.bot, review.review_id)] == [("Faye", 0), ("Tony", 0)]
    assert mirrors(double, review.thread_id) == []  # the first read records, never floods the thread

    ana = site.add_comment(SLUG, "Ana", "<p>Loved the <b>pineapple</b> scene</p>")
    site.publish()
    [mirror] = await wait_mirrors(double, review.thread_id, 1)
    assert mirror["author"]["username"] == "Ana (blog)" and mirror["webhook_id"]
    assert "Loved the **pineapple** scene" in mirror["content"]
    assert f"(<{site.anchor(SLUG, ana.id)}>)" in mirror["content"]  # links to the comment's anchor on the blog
    [hook] = double.webhooks_in(world.text_channel_id)  # the parent channel's webhook, posting into the thread
    assert mirror["webhook_id"] == hook["id"]
    raw = double.get_message(review.thread_id, int(mirror["id"]))
    assert raw["mention_everyone"] is False and raw["mentions"] == [] and raw["mention_roles"] == []

    # The post's feed now counts 3 comments: that re-reads the comment feed in full once (the count
    # decides what a missing comment means); every read after it is conditional: a 304.
    await eventually_row(review.bot, "SELECT 1 FROM comment_feeds WHERE review_id = ? AND post_count = 3 "
                         "AND etag IS NOT NULL", (review.review_id,))  # fmt: skip
    full_reads = len(feeds.requests_to(f"/{SLUG}/feed/"))
    await double.wait_until(lambda: len(feeds.requests_to(f"/{SLUG}/feed/")) > full_reads, timeout=20)
    assert all(r.headers.get("If-None-Match") for r in feeds.requests_to(f"/{SLUG}/feed/")[full_reads:])
    await bridge_turns(review.bot, 3)
    assert len(mirrors(double, review.thread_id)) == 1  # once, however often the feed is read

    reply = await double.post_message(review.thread_id, world.member_id, "Agreed, the pineapple!",
                                      reference=int(mirror["id"]))  # fmt: skip
    await eventually_row(review.bot, "SELECT 1 FROM comments WHERE message_id = ? AND reply_to_id < 0",
                         (int(reply["id"]),))  # fmt: skip
    doc = await document(review)
    authors = [(node["author"], node["source"]) for node in doc["comments"]]
    assert authors == [("Faye", "blog"), ("Tony", "blog"), ("Ana", "blog")]  # one order, each marked
    ana_node = doc["comments"][2]
    assert ana_node["url"] == site.anchor(SLUG, ana.id) and ana_node["id"].startswith("blog-")
    assert [(r["author"], r["source"], r["content"]) for r in ana_node["replies"]] == [
        ("Mo Member", "discord", "Agreed, the pineapple!")
    ]
    assert "author_id" not in ana_node

    site.delete_comment(SLUG, ana.id)  # deleted on the blog: deleted in the thread and in storage
    site.publish()
    await wait_mirrors(double, review.thread_id, 0)
    await settled(lambda: blog_comments(review.bot, review.review_id), [("Faye", FAYE, 0), ("Tony", TONY, 0),
                                                                         ("", "", 1)])  # fmt: skip
    doc = await document(review)
    assert [node["author"] for node in doc["comments"]] == ["Faye", "Tony", "Mo Member"]  # the reply stays, on top
    await run_bot.stop(review.bot)


async def test_an_edit_on_the_blog_edits_the_mirror_in_place_and_an_unapproved_comment_comes_back_once(
    double: DiscordDouble, world, run_bot, site: WordPressSite
) -> None:
    review = await discussed_review(double, world, run_bot, site)
    bea = site.add_comment(SLUG, "Bea", "<p>The midnight snack bar is my favourite set.</p>")
    site.publish()
    [mirror] = await wait_mirrors(double, review.thread_id, 1)
    site.edit_comment(SLUG, bea.id, "<p>The Midnight Express snack bar is my favourite set.</p>")
    site.publish()
    await double.wait_until(
        lambda: "Midnight Express" in double.get_message(review.thread_id, int(mirror["id"]))["content"], timeout=20
    )
    assert [m["id"] for m in mirrors(double, review.thread_id)] == [mirror["id"]]  # edited, not posted again
    assert double.find_requests("PATCH", rf"^/webhooks/{mirror['webhook_id']}/[^/]+/messages/{mirror['id']}$")

    site.unapprove(SLUG, bea.id)  # held for moderation: gone from the feed, so gone from the thread
    site.publish()
    await wait_mirrors(double, review.thread_id, 0)
    site.approve(SLUG, bea.id)  # approved again: back, posted once more
    site.publish()
    [again] = await wait_mirrors(double, review.thread_id, 1)
    assert "Midnight Express" in again["content"] and again["id"] != mirror["id"]
    await bridge_turns(review.bot, 2)
    assert len(mirrors(double, review.thread_id)) == 1
    await run_bot.stop(review.bot)


async def test_a_comment_that_scrolls_out_of_the_feed_window_is_kept(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    site = WordPressSite(feeds, window=3)  # the feed lists the newest three comments only
    site.add_post(SLUG, TITLE)
    first = site.add_comment(SLUG, "Faye", "<p>California Dreamin', on repeat.</p>", hours=1)
    review = await discussed_review(double, world, run_bot, site)
    for n in range(3):
        site.add_comment(SLUG, f"Reader {n}", f"<p>Comment number {n}.</p>")
    site.publish()
    await wait_mirrors(double, review.thread_id, 3)
    await bridge_turns(review.bot, 2)
    stored = await blog_comments(review.bot, review.review_id)
    assert stored[0] == ("Faye", "California Dreamin', on repeat.", 0)  # not listed any more, and not deleted
    assert len(stored) == 4 and not any(d for _, _, d in stored)
    [faye] = [n for n in (await document(review))["comments"] if n["author"] == "Faye"]
    assert faye["url"] == site.anchor(SLUG, first.id)
    await run_bot.stop(review.bot)


async def test_without_manage_webhooks_a_bot_card_links_the_comment_and_replies_still_nest(
    double: DiscordDouble, world, run_bot, site: WordPressSite
) -> None:
    no_hooks = await double.add_text_channel(world.guild_id, "reviews-no-webhooks", permission_overwrites=[
        {"id": str(double.bot_user_id), "type": 1, "allow": "0",
         "deny": str(discord.Permissions(manage_webhooks=True).value)}])  # fmt: skip
    world = SimpleNamespace(**{**vars(world), "text_channel_id": int(no_hooks["id"])})
    review = await discussed_review(double, world, run_bot, site)
    cid = site.add_comment(SLUG, "Ana", "<p>Loved the <b>pineapple</b> scene</p>").id
    site.publish()
    [card] = await wait_mirrors(double, review.thread_id, 1)
    assert card["author"]["id"] == str(double.bot_user_id) and not card.get("webhook_id")
    description = card["embeds"][0]["description"]
    assert description.startswith(f"💬 *Ana* commented [on the blog]({site.anchor(SLUG, cid)})")
    assert "Loved the **pineapple** scene" in description
    assert double.webhooks_in(world.text_channel_id) == []
    sent = double.find_requests("POST", rf"^/channels/{review.thread_id}/messages$")[-1].json
    assert sent["allowed_mentions"]["parse"] == [] and sent["nonce"] and sent["enforce_nonce"] is True

    reply = await double.post_message(review.thread_id, world.member_id, "Me too", reference=int(card["id"]))
    await eventually_row(review.bot, "SELECT 1 FROM comments WHERE message_id = ? AND reply_to_id = ?",
                         (int(reply["id"]), -(await _blog_id(review, "Ana"))))  # fmt: skip
    site.delete_comment(SLUG, cid)
    site.publish()
    await wait_mirrors(double, review.thread_id, 0)
    await run_bot.stop(review.bot)


async def _blog_id(review: SimpleNamespace, author: str) -> int:
    row = await review.bot.db.fetchone(
        "SELECT b.id FROM blog_comments AS b JOIN comments AS c ON c.message_id = -b.id "
        "WHERE b.review_id = ? AND c.author_name = ?",
        (review.review_id, author),
    )
    return int(row[0])


async def test_matinees_own_mirrors_are_never_stored_as_member_comments(
    double: DiscordDouble, world, run_bot, site: WordPressSite
) -> None:
    review = await discussed_review(double, world, run_bot, site)
    site.add_comment(SLUG, "Ana", "<p>The blog side of the conversation.</p>")
    site.publish()
    [mirror] = await wait_mirrors(double, review.thread_id, 1)
    await double.post_message(review.thread_id, world.member_id, "The Discord side.")
    await settled(lambda: _discord_comments(review), ["The Discord side."])
    # A backfill and the re-check read the thread again (the mirror included): still only the member's message.
    backfill = review.bot.get_cog("Discussions").discussions.backfill
    await backfill.backfill_thread(review.thread_id, full=True)
    await backfill.reconcile_recent_comments(review.thread_id)
    assert await _discord_comments(review) == ["The Discord side."]
    assert not await review.bot.db.fetchone("SELECT 1 FROM comments WHERE message_id = ?", (int(mirror["id"]),))
    await run_bot.stop(review.bot)


async def _discord_comments(review: SimpleNamespace) -> list[str]:
    rows = await review.bot.db.fetchall(
        "SELECT content FROM comments WHERE review_id = ? AND source = 'discord' ORDER BY message_id",
        (review.review_id,),
    )
    return [r[0] for r in rows]


HOSTILE = {
    "Eve @everyone": "<p>@everyone look at this, and @here too</p>",
    "Rolo": "<p>Calling <@&{role}> and <@{member}></p>",
    "Scripty": "<p>before<script>window.__pwned = 1; alert(1)</script>after</p>",
    "Framey": '<p>framed<iframe src="https://evil.example/frame"></iframe> text</p>',
    "Pixel": '<p>counted<img src="https://tracker.example/p.gif" width="1" height="1"></p>',
    "Longwinded": "<p>" + "All work and no play makes a long comment. " * 2500 + "</p>",
}


async def test_hostile_blog_comments_never_ping_or_run_and_broken_feeds_show_their_error(
    double: DiscordDouble, world, run_bot, site: WordPressSite
) -> None:
    role = await double.add_role(world.guild_id, "Cinephiles", mentionable=True)
    review = await discussed_review(double, world, run_bot, site)
    for author, body in HOSTILE.items():
        site.add_comment(SLUG, author, body.format(role=role["id"], member=world.member_id))
    site.add_comment(SLUG, "Bytes", "", raw=b"<p>broken \xff\xfe bytes \xc3\x28 here</p>")  # invalid UTF-8
    site.publish()
    found = await wait_mirrors(double, review.thread_id, len(HOSTILE) + 1)
    texts = {m["author"]["username"]: mirror_text(m) for m in found}
    for message in found:
        raw = double.get_message(review.thread_id, int(message["id"]))
        assert raw["mention_everyone"] is False and raw["mentions"] == [] and raw["mention_roles"] == []
        assert len(message["content"]) <= 2000
        assert "<script" not in message["content"] and "alert(1)" not in message["content"]
        assert "evil.example" not in message["content"] and "tracker.example" not in message["content"]
    for request in double.find_requests("POST", r"^/webhooks/\d+/[^/]+$"):
        assert request.json["allowed_mentions"] == {"parse": []}
    assert "@\u200beveryone" in texts["Eve everyone (blog)"]  # defused twice over, and the name lost its "@"
    longest = texts["Longwinded (blog)"].split("\n-# ")[0]
    assert longest.endswith(f"… [read the rest on the blog](<{_anchor(site, 'Longwinded')}>)")
    assert "beforeafter" in texts["Scripty (blog)"] and "framed text" in texts["Framey (blog)"]
    assert "broken" in texts["Bytes (blog)"]
    stored = dict((a, c) for a, c, _ in await blog_comments(review.bot, review.review_id))
    assert len(stored["Longwinded"]) <= 10_000  # stored in full up to a cap; the blog has the rest

    for broken, expected in (
        ({"body": "<html><body>Just a page</body></html>", "content_type": "text/html"}, "not a valid RSS or Atom"),
        ({"body": "oops", "status": 500}, "HTTP 500"),
        ({"redirect_to": f"/{SLUG}/feed/"}, "redirects in a loop"),
    ):
        site.break_comments(SLUG, **broken)
        site.publish()
        await eventually_row(review.bot, "SELECT 1 FROM comment_feeds WHERE review_id = ? AND last_error LIKE ?",
                             (review.review_id, f"%{expected}%"))  # fmt: skip
        listing = await run_command(double, world.guild_id, world.text_channel_id, world.admin_id,
                                    "matinee feed list")  # the bot keeps running, and says what is wrong  # fmt: skip
        blog_field = "\n".join(f["value"] for f in listing["embeds"][0]["fields"] if f["name"].startswith("Blog"))
        assert expected in blog_field and "⚠" in blog_field
        await review.bot.db.execute("UPDATE comment_feeds SET next_poll_at = NULL WHERE review_id = ?",
                                    (review.review_id,))  # read again now, not after the back-off  # fmt: skip
    assert len(mirrors(double, review.thread_id)) == len(HOSTILE) + 1  # nothing was deleted on a broken read
    await run_bot.stop(review.bot)


def _anchor(site: WordPressSite, author: str) -> str:
    comment = next(c for c in site.posts[SLUG].comments if c.author == author)
    return site.anchor(SLUG, comment.id)


async def test_a_lost_answer_to_the_webhook_post_leaves_one_mirror(
    double: DiscordDouble, world, run_bot, site: WordPressSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discord posts the mirror, then answers 502: not re-sent blindly; found in the thread and recorded."""
    monkeypatch.setattr("bot.bridge.delivery.RETRY_FIRST", dt.timedelta(seconds=0.2))  # the next turn looks
    review = await discussed_review(double, world, run_bot, site)
    lost = double.lose_response("POST", r"^/webhooks/\d+/[^/]+$", 502)
    ana = site.add_comment(SLUG, "Ana", "<p>Loved the <b>pineapple</b> scene</p>")
    site.publish()
    [mirror] = await wait_mirrors(double, review.thread_id, 1)
    row = await eventually_row(review.bot, "SELECT message_id FROM blog_comment_posts WHERE state = 'sent'", ())
    await bridge_turns(review.bot, 3)
    assert lost.hits == 1, "the fault was not hit; the test proved nothing"
    [hook] = double.webhooks_in(world.text_channel_id)
    assert [r.status for r in double.find_requests("POST", rf"^/webhooks/{hook['id']}/[^/]+$")] == [502]  # one POST
    assert mirrors(double, review.thread_id) == [mirror]  # one mirror, the one Discord made
    assert row[0] == int(mirror["id"]) and site.anchor(SLUG, ana.id) in mirror["content"]
    await run_bot.stop(review.bot)
