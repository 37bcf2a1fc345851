"""The discussions slash commands: /discussion open|spoilers|summary, /matinee export|archive-after, /forget-me.

Thin adapters: they check permissions, answer or defer within Discord's 3 s, and
call the services and repositories owned by the :class:`Discussions` cog.
"""

from __future__ import annotations

import io
import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import MatineeBot
from bot.discussions.export import EXPORT_FORMATS
from bot.discussions.privacy import forget_member
from bot.discussions.service import ThreadRef
from bot.discussions.summary import summarise
from bot.errors import UserFacingError
from bot.models import Review
from bot.text import CHOICE_NAME, clean_text, truncate
from bot.threads import review_thread_name

from .cog import NO_MENTIONS, Discussions
from .render import ARCHIVE_CHOICES, normalise_archive_minutes, starter_embed
from .views import ForgetMeView

__all__ = ["DiscussionCommands"]

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 8 * 1024 * 1024


def _can_moderate_threads(interaction: discord.Interaction) -> bool:
    perms = interaction.permissions
    if perms.manage_threads or perms.manage_messages:
        return True
    raise app_commands.MissingPermissions(["manage_threads"])


class DiscussionCommands(commands.Cog):
    """Slash commands of the discussions feature."""

    discussion = app_commands.Group(name="discussion", description="Review discussion threads", guild_only=True)

    def __init__(self, bot: MatineeBot, core: Discussions) -> None:
        self.bot = bot
        self.core = core
        self.export_command = app_commands.Command(
            name="export",
            description="Export a review's comments and ratings as a file (JSON, Markdown or HTML)",
            callback=self.export_review,
        )
        self.export_command.autocomplete("review")(self.review_autocomplete)
        self.archive_command = app_commands.Command(
            name="archive-after",
            description="How long review threads stay open without new messages",
            callback=self.archive_after,
        )

    async def cog_load(self) -> None:
        self.bot.add_admin_command(self.export_command)
        self.bot.add_admin_command(self.archive_command)

    async def cog_unload(self) -> None:
        self.bot.remove_admin_command(self.export_command.name)
        self.bot.remove_admin_command(self.archive_command.name)

    # -- commands: /discussion ---------------------------------------------------------------

    async def review_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice]:
        reviews = await self.core.reviews.search(current, limit=25)
        return [
            app_commands.Choice(name=truncate(clean_text(r.title) or r.slug, CHOICE_NAME), value=str(r.id))
            for r in reviews
        ]

    async def _review_thread(self, interaction: discord.Interaction) -> ThreadRef:
        ref = await self.core.index.thread(interaction.channel_id or 0)
        if ref is None:
            raise UserFacingError("Run this inside a review's discussion thread.")
        return ref

    @discussion.command(name="open", description="Open (or re-open) the discussion thread of a stored review here")
    @app_commands.describe(review="The review (search by title)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def open_command(self, interaction: discord.Interaction, review: str) -> None:
        found = await self.core.reviews.find(review)
        if found is None:
            raise UserFacingError("I don't have that review. Pick one from the list.")
        assert interaction.guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        thread = await self._open_by_hand(interaction, found)
        await interaction.followup.send(
            f"The discussion of **{truncate(clean_text(found.title), 200)}** is open: {thread.mention}",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @open_command.autocomplete("review")
    async def _open_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice]:
        return await self.review_autocomplete(interaction, current)

    async def _open_by_hand(self, interaction: discord.Interaction, review: Review) -> discord.Thread:
        guild = interaction.guild
        assert guild is not None
        existing = await self.core.announcements.get(review.id, guild.id)
        if existing is not None and existing.thread_id is not None:
            thread = await self.core.get_thread(guild, existing.thread_id)
            if thread is not None:
                if thread.archived or thread.locked:
                    thread = await thread.edit(archived=False, locked=False)
                self.core.index.add(existing)
                opened = await self.core.open_discussion(review, existing)
                return opened or thread
        if existing is not None and existing.thread_id is None and existing.message_id is not None:
            # Announced, but the thread was never made (a failure at the time): try again from it.
            retried = await self.core.open_discussion(review, existing)
            if retried is not None:
                return retried
        channel = interaction.channel
        spoiler = review.spoilers
        name = review_thread_name(review, spoilers=spoiler)
        settings = await self.core.guild_settings.get(guild.id)
        archive = normalise_archive_minutes(settings.auto_archive_minutes)
        if isinstance(channel, discord.ForumChannel):
            created = await channel.create_thread(
                name=name,
                embed=starter_embed(review),
                auto_archive_duration=archive,  # type: ignore[arg-type]
                allowed_mentions=NO_MENTIONS,
            )
            announcement = await self.core.announcements.record_sent(
                review.id, guild.id, channel.id, created.message.id, thread_id=created.thread.id, spoiler=spoiler
            )
        elif isinstance(channel, discord.TextChannel):
            starter = await channel.send(embed=starter_embed(review), allowed_mentions=NO_MENTIONS)
            announcement = await self.core.announcements.record_sent(
                review.id, guild.id, channel.id, starter.id, spoiler=spoiler
            )
        else:
            raise UserFacingError("Run this in a text or forum channel, not inside a thread.")
        thread = await self.core.open_discussion(review, announcement)
        if thread is None:
            raise UserFacingError("I couldn't create the thread here; check my permissions in this channel.")
        return thread

    @discussion.command(name="spoilers", description="Mark this review thread as a spoiler thread, or unmark it")
    @app_commands.describe(state="on: spoilers allowed here; off: keep it spoiler-free")
    @app_commands.check(_can_moderate_threads)
    async def spoilers_command(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        ref = await self._review_thread(interaction)
        thread = interaction.channel
        assert isinstance(thread, discord.Thread)
        spoiler = state == "on"
        review = await self.core.reviews.get(ref.review_id)
        if review is None:
            raise UserFacingError("This thread's review is no longer stored.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.core.apply_spoiler(thread, review, spoiler)
        await interaction.followup.send(
            "This is now a spoiler thread." if spoiler else "This thread is now spoiler-free.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @discussion.command(name="summary", description="What members think of the film in this thread")
    async def summary_command(self, interaction: discord.Interaction) -> None:
        ref = await self._review_thread(interaction)
        review = await self.core.reviews.get(ref.review_id)
        if review is None:
            raise UserFacingError("This thread's review is no longer stored.")
        await interaction.response.defer(thinking=True)
        announcement = await self.core.announcements.by_thread(interaction.channel_id or 0)
        spoiler = announcement.spoiler if announcement is not None else ref.spoiler
        comments = await self.core.comments.for_review(review.id, guild_id=ref.guild_id)
        counts, _ = await self.core.polls.review_counts(review.id, ref.guild_id)
        result = await summarise(self.bot.llm, review, comments, counts, spoiler=spoiler)
        await interaction.followup.send(result.text, allowed_mentions=NO_MENTIONS)

    # -- commands: /matinee export, /matinee archive-after -----------------------------------

    @app_commands.describe(
        review="The review (search by title)",
        format="json (for blog templates), md or html",
        with_ids="Include members' user ids (off by default)",
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def export_review(
        self,
        interaction: discord.Interaction,
        review: str,
        format: Literal["json", "md", "html"] = "json",
        with_ids: bool = False,
    ) -> None:
        assert format in EXPORT_FORMATS
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.core.exporter.export(review, format, with_ids=with_ids, guild_id=interaction.guild_id)
        data = result.content.encode("utf-8")
        if len(data) > MAX_UPLOAD_BYTES:
            raise UserFacingError("That export is too big for Discord; use `matinee export` on the server instead.")
        await interaction.followup.send(
            f"{result.comment_count} comments on **{truncate(clean_text(result.review.title), 200)}**.",
            file=discord.File(io.BytesIO(data), filename=result.filename),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.describe(minutes="Archive review threads after this long without messages")
    @app_commands.choices(
        minutes=[
            app_commands.Choice(name=label, value=value)
            for label, value in zip(("1 hour", "1 day", "3 days", "1 week"), ARCHIVE_CHOICES, strict=True)
        ]
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def archive_after(self, interaction: discord.Interaction, minutes: int) -> None:
        if minutes not in ARCHIVE_CHOICES:
            raise UserFacingError("Pick one of the offered durations.")
        assert interaction.guild_id is not None
        await self.core.guild_settings.update(interaction.guild_id, auto_archive_minutes=minutes)
        await interaction.response.send_message(
            f"New review threads will archive after {minutes // 60} hours without messages."
            if minutes < 1440
            else f"New review threads will archive after {minutes // 1440} days without messages.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    # -- /forget-me -------------------------------------------------------------------------

    @app_commands.command(name="forget-me", description="Erase your stored comments and poll votes in this server")
    @app_commands.guild_only()
    async def forget_me(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        guild_id, user_id = interaction.guild_id, interaction.user.id

        async def confirmed(_: discord.Interaction) -> str:
            result = await forget_member(
                self.core.comments, self.core.polls, self.core.conversations, user_id, guild_id
            )
            return (
                f"Done. I erased {result.comments} comments, {result.poll_votes} poll votes and "
                f"{result.chat_messages} chat messages of yours in this server. "
                "(New messages in review threads will be stored again.)"
            )

        view = ForgetMeView(user_id, confirmed)
        comments = await self.core.comments.count_by_author(user_id, guild_id)
        votes = await self.core.polls.count_user_votes(user_id, guild_id)
        await interaction.response.send_message(
            f"This erases the {comments} comments and {votes} poll votes I've stored from you in this server, "
            "for good. Are you sure?",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
