"""Chat e2e: streamed replies — throttled edits, <think> stripped, no pings, long answers split."""

from __future__ import annotations

import itertools

import pytest

from tests.e2e._chat import (
    bot_messages,
    chat_patches,
    chat_posts,
    completion_requests,
    mention,
    start_chat_bot,
    wait_reply_text,
)

pytestmark = pytest.mark.e2e


async def test_streamed_reply_is_posted_early_then_edited_at_most_once_a_second(
    double, world, run_bot, openai_stub
) -> None:
    bot = await start_chat_bot(run_bot, openai_stub)
    words = [f"word{i} " for i in range(30)]
    full = "".join(words).strip()
    openai_stub.queue_text("".join(words), chunks=words, delay_between_chunks=0.08)

    await double.post_message(world.text_channel_id, world.member_id, f"{mention(double)} talk to me")
    await wait_reply_text(double, world.text_channel_id, lambda t: t == full, timeout=15)

    posts = chat_posts(double, world.text_channel_id)
    bot_posts = [p for p in posts if p.json and p.json.get("content", "").startswith("word0")]
    assert len(bot_posts) == 1  # one message, then edits
    first_content = bot_posts[0].json["content"]
    assert first_content != full  # posted while still streaming, not at the end
    patches = chat_patches(double, world.text_channel_id)
    assert 1 <= len(patches) < len(words) // 3  # throttled: far fewer edits than tokens
    # No two edits of the message within the throttle interval (a lower bound, robust on slow machines).
    stamps = [bot_posts[0].timestamp] + [p.timestamp for p in patches]
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(stamps))
    assert patches[-1].json["content"] == full
    assert all(p.json["allowed_mentions"] == {"parse": []} for p in patches)
    assert bot.get_cog("Chat") is not None


async def test_think_block_split_across_chunks_never_shows(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    chunks = ["<thi", "nk>The user wants a pick. ", "Secret reasoning.</th", "ink>\n\nWatch *In the Mood for Love*."]
    openai_stub.queue_text("".join(chunks), chunks=chunks, delay_between_chunks=0.05)

    await double.post_message(world.text_channel_id, world.member_id, f"{mention(double)} recommend something")
    text = await wait_reply_text(double, world.text_channel_id, lambda t: "Mood for Love" in t)

    assert text == "Watch *In the Mood for Love*."
    sent = [
        p.json.get("content", "")
        for p in chat_posts(double, world.text_channel_id) + chat_patches(double, world.text_channel_id)
        if p.json
    ]
    assert not any("reasoning" in s or "think>" in s or "<thi" in s for s in sent)


async def test_model_output_cannot_ping_anyone(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    role = await double.add_role(world.guild_id, "Film Buffs")
    evil = f"Hey @everyone and @here and <@&{role['id']}> and <@{world.admin_id}>, movie night!"
    openai_stub.queue_text(evil)

    await double.post_message(world.text_channel_id, world.member_id, f"{mention(double)} announce movie night")
    await wait_reply_text(double, world.text_channel_id, lambda t: "movie night!" in t)

    payloads = [
        p.json
        for p in chat_posts(double, world.text_channel_id) + chat_patches(double, world.text_channel_id)
        if p.json and "movie night!" in (p.json.get("content") or "")
    ]
    assert payloads
    for payload in payloads:
        assert payload["allowed_mentions"] == {"parse": []}
        assert "@everyone" not in payload["content"] and "@here" not in payload["content"]
        assert f"<@&{role['id']}>" not in payload["content"] and f"<@{world.admin_id}>" not in payload["content"]
    message = bot_messages(double, world.text_channel_id)[-1]
    assert message["mention_everyone"] is False
    assert message["mention_roles"] == [] and message["mentions"] == []


async def test_long_answer_is_split_without_breaking_code_blocks(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    code = "\n".join(f"print('frame {i}')" for i in range(150))
    answer = "Here is a script:\n```python\n" + code + "\n```\nEnjoy!"
    assert len(answer) > 2000
    openai_stub.queue_text(answer, chunks=8)

    await double.post_message(world.text_channel_id, world.member_id, f"{mention(double)} write code")
    await wait_reply_text(double, world.text_channel_id, lambda t: t.endswith("Enjoy!"))

    messages = bot_messages(double, world.text_channel_id)
    assert len(messages) >= 2
    for message in messages:
        assert len(message["content"]) <= 2000
        assert message["content"].count("```") % 2 == 0  # every chunk renders on its own
    assert len(completion_requests(openai_stub)) == 1
