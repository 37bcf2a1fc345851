"""An extension whose unload never finishes: a stand-in for any shutdown step that hangs."""

from __future__ import annotations

import asyncio

from discord.ext import commands


class Stuck(commands.Cog):
    async def cog_unload(self) -> None:
        await asyncio.Event().wait()


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Stuck())
