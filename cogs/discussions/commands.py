"""The discussions slash commands: /discussion open|spoilers|summary, /matinee export|archive-after.

Thin adapters: they check permissions, answer or defer within Discord's 3 s, call
``bot.discussions`` and render the result. ``/forget-me`` lives in ``cogs/privacy``.
"""

from __future__ import annotations

import io
import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.admin import admin_command
from bot.bot import MatineeBot
from bot.discussions.export import EXPORT_FORMATS
from bot.discussions.feature import DiscussionFeature
from bot.discussions.opening import ARCHIVE_CHOICES
from bot.errors import UserFacingError
from bot.text import CHOICE_NAME, clean_text, truncate
from cogs._ui import NO_MENTIONS

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

    def __init__(self, bot: MatineeBot, discussions: DiscussionFeature) -> None:
        self.bot = bot
        self.discussions = discussions

    # -- commands: /discussion ---------------------------------------------------------------

    async def review_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice]:
        return [
            app_commands.Choice(name=truncate(clean_text(r.title) or r.slug, CHOICE_NAME), value=str(r.id))
            for r in await self.discussions.search_reviews(current)
        ]

    @discussion.command(name="open", description="Open (or re-open) the discussion thread of a stored review here")
    @app_commands.autocomplete(review=review_autocomplete)
    @app_commands.describe(review="The review: type a title, or give its slug, id or post address")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def open_command(self, interaction: discord.Interaction, review: str) -> None:
        found = await self.discussions.find_review(review)
        assert interaction.guild_id is not None and interaction.channel_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        thread = await self.discussions.opening.open_by_hand(found, interaction.guild_id, interaction.channel_id)
        await interaction.followup.send(
            f"The discussion of **{truncate(clean_text(found.title), 200)}** is open: <#{thread.id}>",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @discussion.command(name="spoilers", description="Mark this review thread as a spoiler thread, or unmark it")
    @app_commands.describe(state="on: spoilers allowed here; off: keep it spoiler-free")
    @app_commands.check(_can_moderate_threads)
    async def spoilers_command(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        ref, review = await self.discussions.review_thread(interaction.channel_id)
        spoiler = state == "on"
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.discussions.opening.set_spoiler(ref.thread_id or 0, review, spoiler)
        await interaction.followup.send(
            "This is now a spoiler thread." if spoiler else "This thread is now spoiler-free.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @discussion.command(name="summary", description="What members think of the film in this thread")
    async def summary_command(self, interaction: discord.Interaction) -> None:
        ref, review = await self.discussions.review_thread(interaction.channel_id)
        await interaction.response.defer(thinking=True)
        text = await self.discussions.summary(ref, review)
        await interaction.followup.send(text, allowed_mentions=NO_MENTIONS)

    # -- commands: /matinee export, /matinee archive-after -----------------------------------

    @admin_command(
        name="export", description="Export a review's comments and ratings as a file (JSON, Markdown or HTML)"
    )
    @app_commands.autocomplete(review=review_autocomplete)
    @app_commands.describe(
        review="The review: type a title, or give its slug, id or post address",
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
        result = await self.discussions.exporter.export(
            review, format, with_ids=with_ids, guild_id=interaction.guild_id
        )
        data = result.content.encode("utf-8")
        if len(data) > MAX_UPLOAD_BYTES:
            raise UserFacingError("That export is too big for Discord; use `matinee export` on the server instead.")
        await interaction.followup.send(
            f"{result.comment_count} comments on **{truncate(clean_text(result.review.title), 200)}**.",
            file=discord.File(io.BytesIO(data), filename=result.filename),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @admin_command(name="archive-after", description="How long review threads stay open without new messages")
    @app_commands.describe(minutes="Archive review threads after this long without messages")
    @app_commands.choices(
        minutes=[
            app_commands.Choice(name=label, value=value)
            for label, value in zip(("1 hour", "1 day", "3 days", "1 week"), ARCHIVE_CHOICES, strict=True)
        ]
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def archive_after(self, interaction: discord.Interaction, minutes: int) -> None:
        assert interaction.guild_id is not None
        await self.discussions.set_archive_after(interaction.guild_id, minutes)
        await interaction.response.send_message(
            f"New review threads will archive after {minutes // 60} hours without messages."
            if minutes < 1440
            else f"New review threads will archive after {minutes // 1440} days without messages.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
