"""``/matinee about``: what is running and what is configured, and what needs staff's attention."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.admin import admin_command
from bot.bot import MatineeBot
from bot.permissions import REQUIRED_PERMISSIONS, missing_optional_permissions, missing_permissions
from bot.problems import describe_problem
from bot.status import ServerHealth, format_bytes, format_uptime, gather_about, server_health
from bot.text import truncate
from cogs._ui import EMBED_COLOUR

FIELD_VALUE = 1024
PROBLEM_LINES = 5


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
        if interaction.guild is not None:
            health = await server_health(self.bot.db, interaction.guild.id)
            embed.add_field(name="Problems", value=problems_value(health), inline=False)
            embed.add_field(name="Permissions", value=permissions_value(interaction.guild, health), inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)


def problems_value(health: ServerHealth) -> str:
    """The server's open delivery problems, the first few in full (all of them: /matinee feed list)."""
    if not health.problems:
        return "✅ None: every review was announced and every thread opened."
    lines = [describe_problem(p, escape=discord.utils.escape_markdown) for p in health.problems[:PROBLEM_LINES]]
    more = len(health.problems) - PROBLEM_LINES
    footer = f"…and {more} more: " if more > 0 else ""
    lines.append(f"{footer}`/matinee feed list` shows them all.")
    return truncate("\n".join(lines), FIELD_VALUE)


def permissions_value(guild: discord.Guild, health: ServerHealth) -> str:
    """Per configured channel, the permissions Matinee lacks there (computed by discord.py for the bot)."""
    if not health.channels:
        return "No channel configured yet: run `/matinee setup`."
    me = guild.me
    lines = []
    for configured in health.channels:
        uses = truncate(", ".join(configured.uses), 80)
        channel = guild.get_channel(configured.channel_id)
        if channel is None or me is None:
            lines.append(f"<#{configured.channel_id}> ({uses}): deleted, or hidden from me")
            continue
        perms = channel.permissions_for(me)
        lacking = {label for role in configured.roles for label in missing_permissions(perms, role)}
        missing = [p.label for p in REQUIRED_PERMISSIONS if p.label in lacking]  # in the declared order
        if missing:
            lines.append(f"<#{configured.channel_id}> ({uses}): missing {', '.join(missing)}")
        optional = {p.label: p for role in configured.roles for p in missing_optional_permissions(perms, role)}
        for permission in optional.values():
            lines.append(f"<#{configured.channel_id}>: optional {permission.label} not granted, to {permission.why}")
    if not lines:
        return "✅ Nothing missing in the configured channels."
    return truncate("\n".join(lines), FIELD_VALUE)


async def setup(bot: MatineeBot) -> None:
    await bot.add_cog(About(bot))
