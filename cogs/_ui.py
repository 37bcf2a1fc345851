"""Discord UI that the member-facing cogs share: inert text, list embeds, replies and page buttons.

Not an extension (the leading underscore keeps :func:`bot.bot.discover_extensions`
from loading it); the films and reviews cogs import from it, and
every cog takes the brand colour and ``NO_MENTIONS`` from here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.text import clean_text, fit_embed, neutralize_mentions, truncate

__all__ = ["EMBED_COLOUR", "NO_MENTIONS", "PageRenderer", "PagedView", "inert", "list_embed", "reply", "send_paged"]

log = logging.getLogger(__name__)

EMBED_COLOUR = discord.Colour.from_rgb(196, 30, 58)  # Matinee's brand colour: every embed uses this one
NO_MENTIONS = discord.AllowedMentions.none()  # pass on every payload (the bot-wide default says so too)
PAGE_TIMEOUT = 180.0


def inert(text: str | None, limit: int = 256) -> str:
    """Untrusted catalog/review text made inert for display: no mentions, no markdown tricks."""
    cleaned = neutralize_mentions(clean_text(" ".join((text or "").split())))
    return truncate(discord.utils.escape_markdown(cleaned), limit)


def list_embed(
    title: str, description: str, fields: list[tuple[str, str]], footer: str = "", **kwargs: Any
) -> discord.Embed:
    """An embed in the brand colour, fitted to Discord's limits; short field values sit inline."""
    title, description, fields, footer, _ = fit_embed(title, description, fields, footer)
    embed = discord.Embed(title=title, description=description or None, colour=EMBED_COLOUR, **kwargs)
    for name, value in fields:
        embed.add_field(name=name, value=value, inline=len(value) < 60)
    if footer:
        embed.set_footer(text=footer)
    return embed


async def reply(interaction: discord.Interaction, **kwargs: Any) -> None:
    """Answer, or follow up if the interaction was already answered or deferred; never pings."""
    kwargs.setdefault("allowed_mentions", NO_MENTIONS)
    if kwargs.get("view") is None:
        kwargs.pop("view", None)
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


PageRenderer = Callable[[int], Awaitable[tuple[discord.Embed, int, int]]]


async def send_paged(interaction: discord.Interaction, render: PageRenderer, *, ephemeral: bool) -> None:
    """Show page 0 of ``render``, with Previous/Next buttons when there is more than one page."""
    embed, page, pages = await render(0)
    view = PagedView(interaction.user.id, render, page=page, pages=pages) if pages > 1 else None
    await reply(interaction, embed=embed, view=view, ephemeral=ephemeral)
    if view is not None:
        try:
            view.message = await interaction.original_response()
        except discord.HTTPException:
            log.debug("could not fetch the paged message", exc_info=True)


class PagedView(discord.ui.View):
    """Previous/Next buttons that only the member who ran the command can use."""

    def __init__(self, owner_id: int, render: PageRenderer, *, page: int, pages: int) -> None:
        super().__init__(timeout=PAGE_TIMEOUT)
        self.owner_id = owner_id
        self.render = render
        self.page = page
        self.pages = pages
        self.message: discord.InteractionMessage | None = None
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.page <= 0
        self.next.disabled = self.page >= self.pages - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "Only the member who ran this command can turn its pages; run it yourself to browse.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        return False

    async def _show(self, interaction: discord.Interaction, page: int) -> None:
        embed, self.page, self.pages = await self.render(page)
        self._sync_buttons()
        await interaction.response.edit_message(embed=embed, view=self, allowed_mentions=NO_MENTIONS)

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page - 1)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page + 1)

    async def on_timeout(self) -> None:
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        if self.message is not None:
            try:
                await self.message.edit(view=self, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException:
                log.debug("could not disable page buttons after timeout", exc_info=True)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        log.exception("page button failed", exc_info=error)
        if not interaction.response.is_done():
            await interaction.response.send_message(
                "That page could not be shown; run the command again.", ephemeral=True, allowed_mentions=NO_MENTIONS
            )
