"""The command tree and its single error handler.

One table maps error types to what the member is told; anything not in the table
is unexpected, gets a short error code, and is logged with its traceback under
that same code, so a member's screenshot leads straight to the log line.
"""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

from .errors import UserFacingError

__all__ = ["MatineeTree", "describe_user_error", "send_ephemeral"]

log = logging.getLogger(__name__)


def _permission_names(permissions: list[str]) -> str:
    return ", ".join(f"**{p.replace('_', ' ').replace('guild', 'server').title()}**" for p in permissions)


def describe_user_error(error: app_commands.AppCommandError) -> str | None:
    """The message for an error the member can act on, or None if it is unexpected."""
    if isinstance(error, app_commands.CommandInvokeError) and isinstance(error.original, UserFacingError):
        return error.original.message
    if isinstance(error, app_commands.TransformerError) and isinstance(error.__cause__, UserFacingError):
        return error.__cause__.message  # an option's transformer said why (e.g. "No film found")
    if isinstance(error, app_commands.MissingPermissions):
        return f"You need the {_permission_names(error.missing_permissions)} permission to use this command."
    if isinstance(error, app_commands.BotMissingPermissions):
        return f"I need the {_permission_names(error.missing_permissions)} permission here to do that."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works inside a server, not in DMs."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.TransformerError):
        return f"I couldn't understand {str(error.value)[:100]!r} for that option."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    return None


async def send_ephemeral(interaction: discord.Interaction, content: str) -> None:
    """Reply or follow up ephemerally, whichever the interaction's state allows."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(content, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
        else:
            await interaction.response.send_message(
                content, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
    except discord.HTTPException:
        log.warning("could not deliver an error message for interaction %s", interaction.id)


def _server_only(command: app_commands.Command | app_commands.ContextMenu | None) -> bool:
    """Whether the command (or the group it belongs to) is limited to servers (``guild_only``)."""
    node = command
    while node is not None:
        if getattr(node, "guild_only", False):  # Group(guild_only=True) keeps no allowed_contexts
            return True
        contexts = getattr(node, "allowed_contexts", None)
        if contexts is not None and contexts.guild is not None:
            return not contexts.dm_channel and not contexts.private_channel
        node = getattr(node, "parent", None)
    return False


class MatineeTree(app_commands.CommandTree):
    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Refuse server-only commands outside a server, for every command at once.

        ``guild_only`` only tells Discord where to show a command; discord.py does
        not enforce it, so a stale client, a user install or a crafted
        interaction could run a server command in a DM, where it would crash on
        the missing guild. Here it gets the same clear refusal everywhere.
        """
        in_dm = interaction.guild_id is None
        if (
            in_dm
            and interaction.type is discord.InteractionType.application_command
            and _server_only(interaction.command)
        ):
            raise app_commands.NoPrivateMessage()
        return True

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        message = describe_user_error(error)
        if message is None:
            code = secrets.token_hex(4)
            command = interaction.command.qualified_name if interaction.command else "?"
            original = getattr(error, "original", error)
            log.error(
                "unexpected error %s in /%s (guild %s, channel %s)",
                code,
                command,
                interaction.guild_id,
                interaction.channel_id,
                exc_info=(type(original), original, original.__traceback__),
            )
            message = f"Something went wrong (code `{code}`). The team can look it up in the logs."
        await send_ephemeral(interaction, message)
