"""``/matinee about``: what is running and what is configured."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.admin import admin_command
from bot.bot import MatineeBot
from bot.status import format_bytes, format_uptime, gather_about
from cogs._ui import EMBED_COLOUR


class About(commands.Cog):
    def __init__(self, bot: MatineeBot) -> None:
        self.bot = bot

    @admin_command(name="about", description="Matinee's version, uptime, integrations and database size")
    async def about(self, interaction: discord.Interaction) -> None:
        info = await gather_about(
            self.bot.settings, self.bot.db, self.bot.uptime_seconds, list(self.bot.failed_extensions)
        )
        embed = discord.Embed(
            title="Matinee", colour=EMBED_COLOUR, description="Hosting this server's film-review discussions."
        )
        embed.add_field(name="Version", value=info.version)
        embed.add_field(name="Uptime", value=format_uptime(info.uptime_seconds))
        embed.add_field(name="Database", value=format_bytes(info.database_bytes))
        for name, state in info.integrations.items():
            embed.add_field(name=name, value=state[:1024])
        if info.failed_extensions:
            embed.add_field(name="Not loaded", value=", ".join(info.failed_extensions)[:1024], inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: MatineeBot) -> None:
    await bot.add_cog(About(bot))
