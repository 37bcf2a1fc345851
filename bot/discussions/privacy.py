"""Forgetting a member: their comments, poll votes, poll-made ratings and chat turns, in one guild or everywhere."""

from __future__ import annotations

from dataclasses import dataclass

from ..storage import CommentRepository, PollRepository
from ..storage.conversations import ConversationRepository

__all__ = ["ForgetResult", "forget_member"]


@dataclass(frozen=True, slots=True)
class ForgetResult:
    comments: int
    poll_votes: int
    chat_messages: int = 0


async def forget_member(
    comments: CommentRepository,
    polls: PollRepository,
    conversations: ConversationRepository,
    user_id: int,
    guild_id: int | None = None,
) -> ForgetResult:
    """Erase for good (not soft-delete); ``guild_id=None`` means every guild.

    The deletes go through the batched writer, after any of the member's rows
    still queued, so nothing written a moment earlier survives.
    Their explicit /rate ratings are not poll data and are left alone; what they
    said to the chat host goes too (the bot's own replies stay).
    """
    n_comments = await comments.count_by_author(user_id, guild_id)
    n_votes = await polls.count_user_votes(user_id, guild_id)
    await comments.erase_author(user_id, guild_id)
    await polls.erase_user(user_id, guild_id)
    n_chat = await conversations.forget_author(user_id, guild_id=guild_id)
    return ForgetResult(n_comments, n_votes, n_chat)
