"""Staff and member commands of the web side: /matinee web, /privacy blog, "Hide from blog" / "Show on blog"."""

from __future__ import annotations

import re
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.admin import admin_command
from bot.bot import MatineeBot
from bot.errors import UserFacingError
from bot.storage.web import WebGuild
from bot.web.consent import describe_member_choice
from cogs._ui import NO_MENTIONS

from .cog import WebFeature

__all__ = ["WebCommands", "normalise_invite"]

_INVITE = re.compile(
    r"^(?:https?://)?(?:www\.)?(?:discord\.gg|discord(?:app)?\.com/invite)/([A-Za-z0-9-]{2,32})/?$", re.IGNORECASE
)


def normalise_invite(text: str) -> str:
    """A Discord invite link in its one canonical form; UserFacingError for anything else."""
    match = _INVITE.match(text.strip())
    if match is None:
        raise UserFacingError("That isn't a Discord invite link. Use one like https://discord.gg/abc123.")
    return f"https://discord.gg/{match.group(1)}"


def _can_moderate(interaction: discord.Interaction) -> bool:
    if interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    if not interaction.permissions.manage_messages:
        raise app_commands.MissingPermissions(["manage_messages"])
    return True


class WebCommands(commands.Cog):
    """Publishing on the blog: per server (staff), per member, per comment."""

    privacy = app_commands.Group(name="privacy", description="Your choices about what Matinee shares", guild_only=True)

    def __init__(self, bot: MatineeBot, feature: WebFeature) -> None:
        self.bot = bot
        self.feature = feature
        self.repository = feature.repository
        self.hide_menu = app_commands.ContextMenu(name="Hide from blog", callback=self.hide_from_blog)
        self.show_menu = app_commands.ContextMenu(name="Show on blog", callback=self.show_on_blog)
        for menu in (self.hide_menu, self.show_menu):
            menu.guild_only = True
            menu.default_permissions = discord.Permissions(manage_messages=True)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.hide_menu)
        self.bot.tree.add_command(self.show_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.hide_menu.name, type=discord.AppCommandType.message)
        self.bot.tree.remove_command(self.show_menu.name, type=discord.AppCommandType.message)

    # -- /matinee web --------------------------------------------------------------------------

    @admin_command(
        name="web", description="Publish this server's review discussions on the blog, and how members consent"
    )
    @app_commands.describe(
        publish="on: replies in review threads appear on the blog's pages; off: nothing is published",
        consent="notice (default): members are shown unless they opt out; opt-in: only members who said yes",
        invite="An invite link shown to blog readers who are not members yet ('none' removes it)",
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def web_settings(
        self,
        interaction: discord.Interaction,
        publish: Literal["on", "off"] | None = None,
        consent: Literal["notice", "opt-in"] | None = None,
        invite: str | None = None,
    ) -> None:
        guild = interaction.guild
        assert guild is not None
        invite_url = None
        clear_invite = False
        if invite is not None:
            if invite.strip().lower() in ("none", "off", "-"):
                clear_invite = True
            else:
                invite_url = normalise_invite(invite)
        before = await self.repository.guild(guild.id)
        after = await self.repository.update_guild(
            guild.id,
            publish=None if publish is None else publish == "on",
            consent_mode=consent,
            invite_url=invite_url,
            clear_invite=clear_invite,
            guild_name=guild.name,
        )
        notice_changed = before.publish != after.publish or (
            after.publish and before.consent_mode != after.consent_mode
        )
        if notice_changed:
            self.feature.refresh_notices(guild)
        await interaction.response.send_message(
            self._describe(after, notice_changed), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    def _describe(self, state: WebGuild, notice_changed: bool) -> str:
        settings = self.bot.settings
        lines = []
        if state.publish:
            who = (
                "every member's replies, except members who chose `/privacy blog hide`"
                if state.consent_mode == "notice"
                else "only the replies of members who chose `/privacy blog show`"
            )
            lines.append(f"**Publishing is on** (consent: {state.consent_mode}): the blog shows {who}.")
            lines.append("Each review thread's opening message tells members so. Staff can right-click a message → "
                         "Apps → **Hide from blog** to keep one comment off.")  # fmt: skip
        else:
            lines.append("**Publishing is off**: nothing from this server appears on the blog.")
        if notice_changed:
            lines.append("I'm updating the opening messages of this server's review threads now.")
        lines.append(f"Invite shown to readers: {state.invite_url or 'none (set one with `invite:`)'}")
        lines.append(
            'On the blog, add to the post template:\n```html\n<div class="matinee-comments"></div>\n'
            f'<script src="{settings.public_address}/embed.js" async></script>\n```'
        )
        if not settings.web_enabled:
            lines.append("⚠ The web server is off here (`WEB_PORT=0`): run `matinee web` to serve the widget.")
        elif not settings.web_allowed_origins:
            lines.append("⚠ `WEB_ALLOWED_ORIGINS` is empty, so browsers on your blog can't read the comments yet.")
        return "\n".join(lines)

    # -- /privacy blog ---------------------------------------------------------------------------

    @privacy.command(name="blog", description="Whether your replies in review threads appear on the blog")
    @app_commands.describe(choice="show: your replies may appear on the blog; hide: never show them")
    async def privacy_blog(
        self, interaction: discord.Interaction, choice: Literal["show", "hide"] | None = None
    ) -> None:
        assert interaction.guild_id is not None
        guild_id, user_id = interaction.guild_id, interaction.user.id
        if choice is not None:
            await self.repository.set_preference(guild_id, user_id, choice == "show")
        state = await self.repository.guild(guild_id)
        preference = await self.repository.preference(guild_id, user_id)
        prefix = "Saved. " if choice is not None else ""
        await interaction.response.send_message(
            prefix + describe_member_choice(state, preference), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    # -- context menus: Hide from blog / Show on blog ------------------------------------------------

    async def hide_from_blog(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await self._set_hidden(interaction, message, True)

    async def show_on_blog(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await self._set_hidden(interaction, message, False)

    async def _set_hidden(self, interaction: discord.Interaction, message: discord.Message, hidden: bool) -> None:
        _can_moderate(interaction)
        location = await self.repository.comment_location(message.id)
        if location is None or location[2] != interaction.guild_id:
            raise UserFacingError("That message isn't a comment on a review, so it is not on the blog.")
        comment_id, _review_id, guild_id = location
        changed = await self.repository.set_hidden(comment_id, hidden)
        if hidden:
            text = "Hidden from the blog; it stays here in Discord." if changed else "It was already hidden."
        else:
            text = "It may appear on the blog again (if its author consents)." if changed else "It wasn't hidden."
        if not await self.repository.is_publishing(guild_id):
            text += " (This server isn't publishing on the blog right now.)"
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
