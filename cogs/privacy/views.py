"""The /forget-me confirmation: two buttons only the member who asked can press."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord

__all__ = ["ForgetMeView"]


class ForgetMeView(discord.ui.View):
    def __init__(self, user_id: int, on_confirm: Callable[[discord.Interaction], Awaitable[str]]) -> None:
        super().__init__(timeout=120)
        self.user_id = user_id
        self._on_confirm = on_confirm
        self.done = False

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.user_id:
            await interaction.response.send_message(
                "Only the member who asked can confirm this.",
                ephemeral=True,
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return False
        return True

    def _finish(self) -> None:
        self.done = True
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        self.stop()

    @discord.ui.button(label="Yes, erase my data", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        # Erasing is a few deletes, one per feature: well within the 3 s an interaction allows.
        message = await self._on_confirm(interaction)
        self._finish()
        await interaction.response.edit_message(
            content=message, view=self, allowed_mentions=discord.AllowedMentions.none()
        )

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self._finish()
        await interaction.response.edit_message(
            content="Nothing was erased.", view=self, allowed_mentions=discord.AllowedMentions.none()
        )
