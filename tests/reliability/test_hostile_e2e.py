"""Mention injection end to end: every payload the bot sends is checked.

Hostile text enters through a review (title, film, body), member comments (and
the summary that quotes them) and a film title. After each flow, every message
payload recorded by the Discord double must forbid mentions (only the configured
role ping may be allowed), and the double, which parses mentions the way Discord
does, must have rendered no live mention in any bot message.
"""

from __future__ import annotations

import pytest

from bot.storage import FilmRepository
from tests.e2e._discussions import open_thread, wait_rows
from tests.e2e.reviews_support import bot_posts, run_command
from tests.reliability._audit import mention_violations, rendered_mentions, sent_payload_count
from tests.reliability._reviews import first_scan_done

pytestmark = pytest.mark.e2e

MENTION_KINDS = ["everyone", "here", "user", "role", "zero-width"]


async def hostile(double, world, kind: str) -> str:
    role = await double.add_role(world.guild_id, "Staff", mentionable=True)
    return {
        "everyone": "@everyone",
        "here": "@here",
        "user": f"<@{world.admin_id}> <@!{world.admin_id}>",
        "role": f"<@&{role['id']}>",
        "zero-width": "@\u2060everyone @\u200dhere <@\u200b&" + str(role["id"]) + ">",
    }[kind]


def assert_no_pings(double, world, *, ping_roles=()) -> None:
    assert sent_payload_count(double) > 0, "nothing was sent, so nothing was checked"
    assert mention_violations(double, ping_roles) == []
    assert rendered_mentions(double, double.bot_user_id) == []


def write_review(directory, name: str, mention: str) -> None:
    (directory / f"{name}.md").write_text(
        f'---\ntitle: "{mention} Heat, reconsidered"\nfilm: "{mention} Heat"\nyear: 1995\nrating: 4\n'
        f'author: "{mention}"\ndate: 2025-03-01\nurl: https://blog.example/{name}/\n---\n'
        f"{mention} Two men, one table. {mention}\n\n**{mention}** ||{mention}||\n",
        encoding="utf-8",
    )


@pytest.mark.parametrize("kind", MENTION_KINDS)
async def test_mentions_in_a_review_never_ping(double, world, run_bot, kind: str) -> None:
    mention = await hostile(double, world, kind)
    bot = await run_bot(feed_poll_seconds=1)
    await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee setup",
                      channel=world.text_channel_id)  # fmt: skip
    await first_scan_done(bot)  # a file there before the first scan is history
    write_review(run_bot.reviews_dir, "heat", mention)
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=20)
    announcement = bot_posts(double, world.text_channel_id)[0]
    thread_id = int(announcement["id"])
    # The discussions feature opened the thread and posted its opening message + poll.
    await double.wait_until(lambda: any(m.get("poll") for m in double.messages_in(thread_id)), timeout=20)
    assert_no_pings(double, world)
    await run_bot.stop(bot)


async def test_only_the_configured_role_ping_is_allowed(double, world, run_bot) -> None:
    ping = await double.add_role(world.guild_id, "Reviews", mentionable=True)
    other = await hostile(double, world, "role")
    bot = await run_bot(feed_poll_seconds=1)
    await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee setup",
                      channel=world.text_channel_id, ping_role=int(ping["id"]))  # fmt: skip
    await first_scan_done(bot)  # a file there before the first scan is history
    write_review(run_bot.reviews_dir, "heat", f"@everyone {other}")
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=20)
    announcement = bot_posts(double, world.text_channel_id)[0]
    assert announcement["mention_roles"] == [str(ping["id"])]
    assert not announcement["mention_everyone"]
    assert mention_violations(double, [int(ping["id"])]) == []
    assert mention_violations(double) != [], "the role ping itself must be visible to the audit"
    await run_bot.stop(bot)


@pytest.mark.parametrize("kind", MENTION_KINDS)
async def test_mentions_in_comments_never_ping_even_when_quoted_by_the_summary(double, world, run_bot, kind) -> None:
    mention = await hostile(double, world, kind)
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    for i in range(3):
        message = await double.post_message(opened.thread_id, world.member_id, f"{mention} comment {i} {mention}")
        await double.add_reaction(opened.thread_id, int(message["id"]), world.admin_id, "🔥")
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=3)
    record = await double.invoke_command(world.guild_id, opened.thread_id, world.member_id, "discussion summary")
    await record.wait_final_message(timeout=15)
    assert_no_pings(double, world)
    await run_bot.stop(bot)


@pytest.mark.parametrize("kind", MENTION_KINDS)
async def test_mentions_in_a_film_title_never_ping(double, world, run_bot, kind) -> None:
    mention = await hostile(double, world, kind)
    bot = await run_bot()
    film = await FilmRepository(bot.db).add(f"{mention} Alien {mention}", year=1979)
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.member_id, "film",
                                         {"title": str(film.id)})  # fmt: skip
    await record.wait_final_message(timeout=15)
    record = await double.invoke_autocomplete(world.guild_id, world.text_channel_id, world.member_id, "film",
                                              {"title": "alien"}, "title")  # fmt: skip
    await record.wait_choices()
    assert_no_pings(double, world)
    await run_bot.stop(bot)


@pytest.mark.parametrize("slug", ["../../etc/passwd", "..\\..\\boot.ini", "/abs/path", "a\x00b"])
async def test_export_of_a_review_with_a_hostile_slug_sends_a_safe_file_name(double, world, run_bot, slug) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world, slug=slug)
    await double.post_message(opened.thread_id, world.member_id, "<script>alert(1)</script> @everyone")
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=1)
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.admin_id, "matinee export",
                                         {"review": str(opened.review.id), "format": "html"})  # fmt: skip
    await record.wait_followup(timeout=10)
    upload = double.find_requests("POST", r"/webhooks/")[-1]
    name = upload.files[0].filename
    assert name.endswith(f"-{opened.review.id}-comments.html")
    assert "/" not in name and "\\" not in name and ".." not in name and "\x00" not in name
    assert "<script>" not in upload.files[0].data.decode()
    assert_no_pings(double, world)
    await run_bot.stop(bot)


def embed_total(embed: dict) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "") + len((embed.get("author") or {}).get("name") or "")
    return total + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields") or [])


@pytest.mark.parametrize(
    "title_len,film_len,body_len",
    [(256, 71, 4096), (257, 72, 4097), (400, 300, 12000)],
    ids=["at the limits", "one over", "far over"],
)
async def test_oversized_reviews_are_announced_within_discord_limits(
    double, world, run_bot, title_len: int, film_len: int, body_len: int
) -> None:
    bot = await run_bot(feed_poll_seconds=1)
    await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee setup",
                      channel=world.text_channel_id)  # fmt: skip
    title = ("Long title " * 60)[:title_len].strip() or "t"
    film = ("Film " * 100)[:film_len].strip()
    body = ("A sentence about the film. " * 600)[:body_len]
    await first_scan_done(bot)  # a file there before the first scan is history
    (run_bot.reviews_dir / "long.md").write_text(
        f'---\ntitle: "{title}"\nfilm: "{film}"\nyear: 1999\nauthor: "{"A" * 300}"\ndate: 2025-03-01\n'
        f"url: https://blog.example/long/\n---\n{body}\n",
        encoding="utf-8",
    )
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=20)
    thread_id = int(bot_posts(double, world.text_channel_id)[0]["id"])
    await double.wait_until(lambda: any(m.get("poll") for m in double.messages_in(thread_id)), timeout=20)
    for request in double.find_requests("POST", r"^/channels/\d+/messages$"):
        payload = request.json or {}
        assert len(payload.get("content") or "") <= 2000
        for embed in payload.get("embeds") or []:
            assert len(embed.get("title") or "") <= 256 and len(embed.get("description") or "") <= 4096
            assert embed_total(embed) <= 6000
        poll = payload.get("poll")
        if poll:
            assert len(poll["question"]["text"]) <= 300
    assert len(double.channels[thread_id]["name"]) <= 100
    assert [r.status for r in double.requests if r.status >= 400] == []
    await run_bot.stop(bot)


SEARCH_ATTACKS = ['"', "NEAR(a b", "'; DROP TABLE reviews; --", "title:* OR 1=1", ")))(((", "\x00\u202e🎬"]


@pytest.mark.parametrize("query", SEARCH_ATTACKS, ids=[repr(q) for q in SEARCH_ATTACKS])
async def test_reviews_search_box_takes_fts_syntax_and_sql(double, world, run_bot, query: str) -> None:
    bot = await run_bot()
    await open_thread(bot, double, world)
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.member_id, "reviews",
                                         {"query": query})  # fmt: skip
    message = await record.wait_final_message(timeout=15)
    assert "Something went wrong" not in (message.get("content") or "")
    assert await bot.db.fetchval("SELECT count(*) FROM reviews") == 1
    record = await double.invoke_autocomplete(world.guild_id, world.text_channel_id, world.member_id, "film",
                                              {"title": query}, "title")  # fmt: skip
    assert isinstance(await record.wait_choices(), list)
    assert_no_pings(double, world)
    await run_bot.stop(bot)


async def test_a_crafted_poll_vote_for_an_answer_that_does_not_exist_is_contained(double, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    poll_id = int(opened.opening["id"])
    for answer in (0, 11, 42, -1):
        await double.poll_vote(opened.thread_id, poll_id, world.member_id, answer)
    await double.poll_vote(opened.thread_id, poll_id, world.admin_id, 4)
    await double.post_message(opened.thread_id, world.member_id, "still listening?")
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=1)
    rows = await wait_rows(bot, double, "SELECT user_id, answer_id FROM poll_votes WHERE user_id = ?",
                           (world.admin_id,), count=1)  # fmt: skip
    assert rows[0][1] == 4
    bad = await bot.db.fetchval("SELECT count(*) FROM poll_votes WHERE answer_id NOT BETWEEN 1 AND 5")
    assert bad == 0
    await run_bot.stop(bot)


async def test_control_and_bidi_characters_never_reach_a_thread_name(double, world, run_bot) -> None:
    bot = await run_bot(feed_poll_seconds=1)
    await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee setup",
                      channel=world.text_channel_id)  # fmt: skip
    await first_scan_done(bot)  # a file there before the first scan is history
    (run_bot.reviews_dir / "rtl.md").write_text(
        '---\ntitle: "Evil \\u202etxt.exe\\u202c title"\nfilm: "Heat\\u202e\\u2066 \\u0007"\nyear: 1995\n'
        "date: 2025-03-01\nurl: https://blog.example/rtl/\n---\nBody with \x07 a bell.\n",
        encoding="utf-8",
    )
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=20)
    thread_id = int(bot_posts(double, world.text_channel_id)[0]["id"])
    await double.wait_until(lambda: any(m.get("poll") for m in double.messages_in(thread_id)), timeout=20)
    name = double.channels[thread_id]["name"]
    embed = bot_posts(double, world.text_channel_id)[0]["embeds"][0]
    for text in (name, embed["title"]):
        assert not any(ch in text for ch in "\u202e\u202c\u2066\x07\x00"), repr(text)
    assert "Heat" in name
    await run_bot.stop(bot)
