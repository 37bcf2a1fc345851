"""The Discord side of the blog-comment mirrors: a thread webhook where allowed, else a bot message.

Where Matinee may manage webhooks in the thread's parent channel (Manage Webhooks, an
optional permission: bot/permissions.py), it posts through that channel's webhook into
the thread, under the commenter's name with " (blog)" and a neutral avatar. Otherwise
it posts its own message with a small embed, "💬 *Name* commented on the blog". Either
way the message allows no mentions and links to the comment's anchor on the blog.

Webhooks are found or created once per channel and kept in memory only: the token is
a secret and is never stored. After a crash, :meth:`find_existing` reads the thread's
recent messages for Matinee's own (its webhook's, or the bot's) carrying the comment's
anchor. Every Discord error becomes a :class:`DeliveryError` saying what a retry can do
(:func:`cogs._discord_errors.delivery_error`).
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import discord

from bot.bot import MatineeBot
from bot.bridge import Posted
from bot.bridge.render import NEUTRAL_AVATAR, card, carries, webhook_text
from bot.lost_response import single_attempt
from bot.reviews import DeliveryError, Failure
from bot.storage.blog_comments import MirrorJob
from cogs._discord_errors import DISCORD_ERRORS, LostResponse, delivery_error
from cogs._ui import EMBED_COLOUR, NO_MENTIONS

__all__ = ["WEBHOOK_NAME", "DiscordMirrorTransport"]

log = logging.getLogger(__name__)

WEBHOOK_NAME = "Matinee blog comments"
HISTORY_LIMIT = 50  # how far back a thread is searched for a mirror sent before a crash
RETRY_WEBHOOK_AFTER = 600.0  # seconds before trying again to get a webhook Discord refused
UNKNOWN_WEBHOOK = 10015
GONE = "the thread or message is gone"


class DiscordMirrorTransport:
    """:class:`bot.bridge.MirrorTransport` with discord.py."""

    def __init__(self, bot: MatineeBot) -> None:
        self.bot = bot
        self._webhooks: dict[int, discord.Webhook] = {}  # parent channel id -> Matinee's webhook there
        self._refused: dict[int, float] = {}  # parent channel id -> monotonic time to try again
        self._locks: dict[int, asyncio.Lock] = {}

    # -- where ---------------------------------------------------------------------------------

    async def _parent(self, channel_id: int) -> discord.abc.GuildChannel | None:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.NotFound:
                return None
            except discord.HTTPException as exc:
                raise delivery_error(exc, what="see the thread's channel", gone=GONE) from None
        return channel  # type: ignore[return-value]

    async def _webhook(self, channel: discord.abc.GuildChannel | None) -> discord.Webhook | None:
        """Matinee's webhook in the channel, found or made once; None where it may not manage webhooks."""
        if not isinstance(channel, discord.TextChannel | discord.ForumChannel):
            return None
        me = channel.guild.me
        if me is None or not channel.permissions_for(me).manage_webhooks:
            self._webhooks.pop(channel.id, None)
            return None
        cached = self._webhooks.get(channel.id)
        if cached is not None or self._refused.get(channel.id, 0.0) > time.monotonic():
            return cached
        async with self._locks.setdefault(channel.id, asyncio.Lock()):
            if channel.id in self._webhooks:
                return self._webhooks[channel.id]
            try:
                mine = next((h for h in await channel.webhooks() if self._is_mine(h)), None)
                if mine is None:
                    mine = await channel.create_webhook(
                        name=WEBHOOK_NAME, reason="Matinee posts the blog's comments into review threads"
                    )
            except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("no webhook in channel %s (%s); blog comments are posted as Matinee's messages there",
                            channel.id, getattr(exc, "status", type(exc).__name__))  # fmt: skip
                self._refused[channel.id] = time.monotonic() + RETRY_WEBHOOK_AFTER
                return None
            self._webhooks[channel.id] = mine
            return mine

    def _is_mine(self, webhook: discord.Webhook) -> bool:
        user = self.bot.user
        return bool(webhook.token) and webhook.user is not None and user is not None and webhook.user.id == user.id \
            and webhook.name == WEBHOOK_NAME  # fmt: skip

    async def _webhook_of(self, job: MirrorJob) -> discord.Webhook | None:
        """The webhook that posted ``job``'s message, if Matinee can still use it."""
        if job.webhook_id is None:
            return None
        hook = await self._webhook(await self._parent(job.channel_id))
        return hook if hook is not None and hook.id == job.webhook_id else None

    def _thread(self, job: MirrorJob) -> discord.PartialMessageable:
        return self.bot.get_partial_messageable(job.thread_id, guild_id=job.guild_id)

    @staticmethod
    def _embed(job: MirrorJob) -> discord.Embed:
        shown = card(job.author_name, job.content, job.anchor)
        return discord.Embed(description=shown.description, colour=EMBED_COLOUR)

    # -- MirrorTransport -------------------------------------------------------------------------

    async def send(self, job: MirrorJob) -> Posted:
        hook = await self._webhook(await self._parent(job.channel_id))
        try:
            if hook is not None:
                text = webhook_text(job.author_name, job.content, job.anchor)
                await self.bot.rest_limiter.acquire()  # webhooks bypass discord.py's HTTP client, not Discord's limit
                # A webhook message takes no nonce: a 5xx is never retried blindly (it may have been posted);
                # the delivery looks for it in the thread before sending again.
                with single_attempt(self.bot.http, LostResponse):
                    message = await hook.send(
                        content=text.content, username=text.username, avatar_url=NEUTRAL_AVATAR,
                        thread=discord.Object(job.thread_id), wait=True, allowed_mentions=NO_MENTIONS,
                        suppress_embeds=True,
                    )  # fmt: skip
                return Posted(message.id, hook.id)
            message = await self._thread(job).send(embed=self._embed(job), nonce=job.nonce,
                                                   allowed_mentions=NO_MENTIONS)  # fmt: skip
            return Posted(message.id, None)
        except discord.NotFound as exc:
            if hook is not None and exc.code == UNKNOWN_WEBHOOK:  # staff deleted the webhook: make another next time
                self._webhooks.pop(job.channel_id, None)
                raise DeliveryError("the channel's webhook was deleted; trying again") from None
            raise delivery_error(exc, what="post in the thread", gone=GONE) from None
        except DISCORD_ERRORS as exc:
            raise delivery_error(exc, what="post in the thread", gone=GONE) from None

    async def find_existing(self, job: MirrorJob) -> Posted | None:
        """Matinee's message carrying the comment's anchor among the thread's recent ones (a send before a crash)."""
        hook = await self._webhook(await self._parent(job.channel_id))
        hooks = {h for h in (job.webhook_id, hook.id if hook else None) if h}
        me = self.bot.user.id if self.bot.user else None
        try:
            async for message in self._thread(job).history(limit=HISTORY_LIMIT):
                if message.webhook_id is not None:
                    ours = message.webhook_id in hooks or message.application_id == self.bot.application_id
                else:
                    ours = message.author.id == me
                texts = [message.content, *(e.description for e in message.embeds)]
                if ours and (any(carries(t, job.anchor) for t in texts) or str(message.nonce or "") == job.nonce):
                    return Posted(message.id, message.webhook_id)
        except discord.Forbidden:
            log.warning("can't read thread %s to look for blog comment %s", job.thread_id, job.comment_id)
            return None
        except DISCORD_ERRORS as exc:
            raise delivery_error(exc, what="read the thread", gone=GONE) from None
        return None

    async def edit(self, job: MirrorJob) -> None:
        assert job.message_id is not None
        try:
            if job.webhook_id is not None:
                hook = await self._webhook_of(job)
                if hook is None:
                    raise DeliveryError("the webhook that posted it is gone or out of reach; it can't be edited",
                                        failure=Failure.GONE)  # fmt: skip
                text = webhook_text(job.author_name, job.content, job.anchor)
                await self.bot.rest_limiter.acquire()
                await hook.edit_message(job.message_id, content=text.content, thread=discord.Object(job.thread_id),
                                        allowed_mentions=NO_MENTIONS)  # fmt: skip
            else:
                await self._thread(job).get_partial_message(job.message_id).edit(
                    embed=self._embed(job), allowed_mentions=NO_MENTIONS
                )
        except DISCORD_ERRORS as exc:
            raise delivery_error(exc, what="edit the comment", gone=GONE) from None

    async def delete(self, job: MirrorJob) -> None:
        assert job.message_id is not None
        try:
            hook = await self._webhook_of(job)
            if hook is not None:
                await self.bot.rest_limiter.acquire()
                await hook.delete_message(job.message_id, thread=discord.Object(job.thread_id))
            else:  # the bot's own message, or a webhook's Matinee lost (needs Manage Messages)
                await self._thread(job).get_partial_message(job.message_id).delete()
        except discord.NotFound:
            return  # already gone: that is what was asked
        except DISCORD_ERRORS as exc:
            raise delivery_error(exc, what="delete the comment", gone=GONE) from None
