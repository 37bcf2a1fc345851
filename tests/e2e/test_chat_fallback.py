"""Chat e2e: with no model configured, /ask and mentions answer from the reviews (with a pointer to /film)."""

from __future__ import annotations

import pytest

from bot.storage import FilmRepository, ReviewRepository
from tests.e2e._chat import bot_messages, mention, start_chat_bot

pytestmark = pytest.mark.e2e

EPHEMERAL = 1 << 6


async def stored_review_with_film(bot) -> None:
    film = await FilmRepository(bot.db).add(
        "Chungking Express", year=1994, directors=["Wong Kar-wai"], genres=["Romance", "Drama"]
    )
    await ReviewRepository(bot.db).upsert(
        source="markdown",
        source_key="chungking.md",
        slug="chungking-express",
        title="Chungking Express: A Love Letter to Loneliness",
        url="https://blog.example/chungking-express",
        author="Wren",
        film_title="Chungking Express",
        film_year=1994,
        film_id=film.id,
        rating=4.5,
        excerpt="Wong Kar-wai's Hong Kong, with Faye Wong and canned pineapple.",
        body_md="Cop 223 buys tins of pineapple that expire on May 1st.",
        content_hash="v1",
    )


async def test_ask_without_a_model_answers_from_reviews_with_the_film_card(double, world, run_bot) -> None:
    bot = await start_chat_bot(run_bot, None)
    assert bot.llm is None
    await stored_review_with_film(bot)

    record = await double.invoke_command(
        world.guild_id,
        world.text_channel_id,
        world.member_id,
        "ask",
        {"question": "What did the blog think about the pineapple tins?", "ephemeral": True},
    )
    assert (await record.wait_response())["type"] == 5  # deferred within the 3 s window
    message = await record.wait_followup()

    assert message["flags"] & EPHEMERAL
    review_embed, film_embed = message["embeds"]
    assert "isn't set up" in review_embed["description"]
    assert "Chungking Express: A Love Letter to Loneliness" in review_embed["description"]
    assert "https://blog.example/chungking-express" in review_embed["description"]
    assert film_embed["title"] == "Chungking Express (1994)"
    assert any(f["value"] == "Wong Kar-wai" for f in film_embed["fields"])


async def test_ask_without_a_model_and_without_matches_says_so(double, world, run_bot) -> None:
    await start_chat_bot(run_bot, None)
    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.member_id, "ask", {"question": '"*) OR NEAR( -'}
    )
    message = await record.wait_followup()
    assert "couldn't find a review" in message["embeds"][0]["description"]
    assert not message["flags"] & EPHEMERAL


async def test_mention_without_a_model_answers_from_reviews_and_points_to_film_and_reviews(
    double, world, run_bot
) -> None:
    bot = await start_chat_bot(run_bot, None)
    await stored_review_with_film(bot)
    question = await double.post_message(world.text_channel_id, world.member_id, f"{mention(double)} pineapple tins?")
    replies = await double.wait_until(lambda: bot_messages(double, world.text_channel_id))
    reply = replies[0]
    assert reply["message_reference"]["message_id"] == question["id"]
    review_embed, film_embed = reply["embeds"]
    assert "isn't set up" in review_embed["description"]
    assert "Chungking Express: A Love Letter to Loneliness" in review_embed["description"]
    assert "/film" in review_embed["footer"]["text"] and "/reviews" in review_embed["footer"]["text"]
    assert film_embed["title"] == "Chungking Express (1994)"
    assert reply["mentions"] == []  # the reply pings no one


async def test_a_webhook_message_that_mentions_matinee_is_never_answered(double, world, run_bot) -> None:
    """Webhook messages (the bridge's blog mirrors, other integrations) are never chat: no reply loops."""
    bot = await start_chat_bot(run_bot, None)
    await stored_review_with_film(bot)
    channel = world.text_channel_id
    await double.post_message(channel, world.member_id, f"{mention(double)} pineapple tins?", webhook_id=4242)
    question = await double.post_message(channel, world.member_id, f"{mention(double)} pineapple tins?")
    await double.wait_until(lambda: bot_messages(double, channel))
    # One more member question, answered after the others were handled: by then a reply to the webhook would be there.
    again = await double.post_message(channel, world.member_id, f"{mention(double)} and the jukebox?")
    await double.wait_until(lambda: len(bot_messages(double, channel)) >= 2)
    replied_to = [r["message_reference"]["message_id"] for r in bot_messages(double, channel)]
    assert replied_to == [question["id"], again["id"]]  # the members' only


async def test_ask_without_a_model_in_a_review_thread_shows_that_review(double, world, run_bot) -> None:
    from tests.e2e._chat import review_thread

    bot = await start_chat_bot(run_bot, None)
    thread = await review_thread(bot, double, world)
    record = await double.invoke_command(world.guild_id, thread.thread_id, world.member_id, "ask", {"question": "hmm?"})
    message = await record.wait_followup()
    assert "Chungking Express: A Love Letter to Loneliness" in message["embeds"][0]["description"]
