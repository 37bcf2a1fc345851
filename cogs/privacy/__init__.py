"""``/forget-me``: a member erases what Matinee stores about them, through ``bot.privacy``."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import MatineeBot
from bot.privacy import done_message, member_data_registry, question_message

from .views import ForgetMeView

__all__ = ["Privacy", "setup"]

log = logging.getLogger(__name__)


class Privacy(commands.Cog):
    def __init__(self, bot: MatineeBot) -> None:
        self.bot = bot
        self.registry = member_data_registry(bot.db, bot.writer)

    async def cog_load(self) -> None:
        # A forget cut short by a crash or a kill: finish it before Discord events arrive.
        for report in await self.registry.finish_interrupted():
            where = f"server {report.guild_id}" if report.guild_id is not None else "every server"
            log.info("finished an interrupted forget of user %s in %s (%d items)", report.user_id, where, report.total)

    @app_commands.command(
        name="forget-me", description="Erase your comments, votes, ratings, chat and watchlist stored by Matinee"
    )
    @app_commands.guild_only()
    async def forget_me(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        guild_id, user_id = interaction.guild_id, interaction.user.id

        async def confirmed(_: discord.Interaction) -> str:
            return done_message(await self.registry.forget(user_id, guild_id))

        await interaction.response.send_message(
            question_message(await self.registry.preview(user_id, guild_id)),
            view=ForgetMeView(user_id, confirmed),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def setup(bot: MatineeBot) -> None:
    await bot.add_cog(Privacy(bot))
