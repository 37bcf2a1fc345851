"""The Discord side of the outbox: send, find after a crash or a lost answer, and edit announcements.

Every ``discord.HTTPException`` becomes a :class:`DeliveryError` whose ``failure``
says what retrying can do (:func:`cogs._discord_errors.delivery_error`).

A message carries a nonce Discord enforces, so discord.py's own retry of a 5xx is
safe. A forum post takes no nonce: it is sent in a single attempt
(:func:`bot.lost_response.single_attempt`), and a 5xx comes back to the outbox, which
looks for the post (:meth:`DiscordTransport.find_existing`) before sending again.
"""

from __future__ import annotations

import logging

import discord

from bot.discussions.thread_names import review_thread_name
from bot.lost_response import single_attempt
from bot.models import Announcement, Review
from bot.reviews import Delivered, DeliveryError, Failure
from bot.storage import GuildSettingsRepository
from cogs._discord_errors import DISCORD_ERRORS, LostResponse, delivery_error

from .embeds import build_review_embed, ping_for, review_embed_matches

__all__ = ["DiscordTransport"]

log = logging.getLogger(__name__)

HISTORY_LIMIT = 50  # how far back reconciliation looks in a channel
GONE = "the channel was deleted"


class DiscordTransport:
    def __init__(self, bot: discord.Client, guilds: GuildSettingsRepository) -> None:
        self.bot = bot
        self.guilds = guilds

    async def _channel(self, channel_id: int) -> discord.abc.GuildChannel | discord.Thread:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.NotFound:
                raise DeliveryError("the channel was deleted", failure=Failure.GONE, status=404) from None
            except discord.Forbidden as exc:
                raise DeliveryError("the channel is hidden from me (Discord 403: missing access)",
                                    failure=Failure.FORBIDDEN, status=exc.status) from None  # fmt: skip
            except discord.HTTPException as exc:
                raise delivery_error(exc, what="see the channel", gone=GONE) from None
        return channel  # type: ignore[return-value]

    async def send(self, review: Review, announcement: Announcement) -> Delivered:
        channel = await self._channel(announcement.channel_id)
        settings = await self.guilds.get(announcement.guild_id)
        content, allowed = ping_for(settings.ping_role_id)
        try:
            if isinstance(channel, discord.ForumChannel):
                tags: list = [discord.Object(id=settings.forum_tag_id)] if settings.forum_tag_id else []
                if not tags and channel.flags.require_tag and channel.available_tags:
                    tags = [channel.available_tags[0]]  # a forum that demands a tag would refuse the post
                with single_attempt(self.bot.http, LostResponse):  # no nonce: a retried 5xx would post it twice
                    created = await channel.create_thread(
                        name=review_thread_name(review, spoilers=review.spoilers),
                        content=content,
                        embed=build_review_embed(review, forum=True),
                        applied_tags=tags,  # type: ignore[arg-type]
                        allowed_mentions=allowed,
                    )
                return Delivered(channel.id, created.message.id, created.thread.id)
            if not isinstance(channel, discord.abc.Messageable):
                raise DeliveryError("the channel can't hold messages", failure=Failure.REFUSED)
            message = await channel.send(
                content=content, embed=build_review_embed(review), nonce=announcement.nonce, allowed_mentions=allowed
            )
            return Delivered(channel.id, message.id, None)
        except DISCORD_ERRORS as exc:
            raise delivery_error(exc, what="post there", gone=GONE) from None

    def _is_ours(self, message: discord.Message, review: Review, announcement: Announcement) -> bool:
        if self.bot.user is None or message.author.id != self.bot.user.id:
            return False
        if message.nonce is not None and str(message.nonce) == announcement.nonce:
            return True
        return any(review_embed_matches(e, review) for e in message.embeds)

    async def find_existing(self, review: Review, announcement: Announcement) -> Delivered | None:
        """Look for a post an earlier (crashed) attempt made: by nonce, else by the embed."""
        channel = await self._channel(announcement.channel_id)
        try:
            if isinstance(channel, discord.ForumChannel):
                return await self._find_forum_post(channel, review, announcement)
            if not isinstance(channel, discord.abc.Messageable):
                return None
            async for message in channel.history(limit=HISTORY_LIMIT):
                if self._is_ours(message, review, announcement):
                    return Delivered(channel.id, message.id, None)
        except discord.Forbidden:
            # Without Read Message History we can't look; the nonce (enforce_nonce) still guards the resend.
            log.warning("can't read channel %s to reconcile review %s", announcement.channel_id, review.id)
            return None
        except discord.HTTPException as exc:
            raise delivery_error(exc, what="read the channel", gone=GONE) from None
        return None

    async def _find_forum_post(
        self, forum: discord.ForumChannel, review: Review, announcement: Announcement
    ) -> Delivered | None:
        """The bot's own post of this review among the forum's active and recently archived posts.

        A post has no nonce, so its starter message is matched by the embed (the review's
        URL, else its title and date), newest post first.
        """
        active = await forum.guild.active_threads()
        threads = {t.id: t for t in active if t.parent_id == forum.id}
        threads.update({t.id: t for t in forum.threads})
        async for thread in forum.archived_threads(limit=HISTORY_LIMIT):
            threads[thread.id] = thread
        me = self.bot.user.id if self.bot.user else None
        for thread in sorted(threads.values(), key=lambda t: t.id, reverse=True):
            if thread.owner_id != me:
                continue
            starter = thread.starter_message  # cached when the gateway told us of the post
            if starter is None:
                try:
                    starter = await thread.fetch_message(thread.id)
                except discord.NotFound:
                    continue
            if self._is_ours(starter, review, announcement):
                return Delivered(forum.id, starter.id, thread.id)
        return None

    async def edit(self, review: Review, announcement: Announcement) -> bool:
        """Edit the posted embed in place; False if the post no longer exists."""
        if announcement.message_id is None:
            return False
        try:
            channel = await self._channel(announcement.channel_id)
        except DeliveryError:
            return False
        forum = isinstance(channel, discord.ForumChannel)
        where = announcement.thread_id if forum and announcement.thread_id else announcement.channel_id
        target = self.bot.get_partial_messageable(where, guild_id=announcement.guild_id)
        try:
            await target.get_partial_message(announcement.message_id).edit(
                embed=build_review_embed(review, forum=forum), allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.NotFound:
            log.info("announcement of review %s in guild %s was deleted; not editing", review.id, announcement.guild_id)
            return False
        except discord.HTTPException as exc:
            log.warning("editing review %s in guild %s failed: %s", review.id, announcement.guild_id, exc.status)
            return False
        return True
