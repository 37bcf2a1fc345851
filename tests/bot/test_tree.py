"""The error handler: user errors are explained, replies work before and after the first answer."""

from __future__ import annotations

from unittest.mock import AsyncMock, MagicMock

import discord
import pytest
from discord import app_commands

from bot.errors import UserFacingError
from bot.tree import describe_user_error, send_ephemeral


def fake_interaction(*, answered: bool) -> MagicMock:
    interaction = MagicMock(spec=discord.Interaction)
    interaction.response = MagicMock(spec=discord.InteractionResponse)
    interaction.response.is_done.return_value = answered
    interaction.response.send_message = AsyncMock()
    interaction.followup = MagicMock(spec=discord.Webhook)
    interaction.followup.send = AsyncMock()
    return interaction


@pytest.mark.parametrize("answered", [False, True])
async def test_send_ephemeral_replies_or_follows_up(answered: bool) -> None:
    interaction = fake_interaction(answered=answered)
    await send_ephemeral(interaction, "nope")
    used, unused = (
        (interaction.followup.send, interaction.response.send_message)
        if answered
        else (interaction.response.send_message, interaction.followup.send)
    )
    used.assert_awaited_once()
    unused.assert_not_awaited()
    assert used.await_args.kwargs["ephemeral"] is True
    assert used.await_args.kwargs["allowed_mentions"].to_dict() == {"parse": []}


def test_user_facing_errors_are_described() -> None:
    async def callback(interaction: discord.Interaction) -> None:  # pragma: no cover - never invoked
        pass

    command = app_commands.Command(name="probe", description="probe", callback=callback)
    wrapped = app_commands.CommandInvokeError(command, UserFacingError("No review called 'x'."))
    assert describe_user_error(wrapped) == "No review called 'x'."
    missing = describe_user_error(app_commands.MissingPermissions(["manage_guild"]))
    assert missing is not None and "Manage Server" in missing
    assert "server" in describe_user_error(app_commands.NoPrivateMessage())
    cooldown = app_commands.CommandOnCooldown(app_commands.Cooldown(1, 60), 12.3)
    assert "12" in describe_user_error(cooldown)
    unexpected = app_commands.CommandInvokeError(command, RuntimeError("boom"))
    assert describe_user_error(unexpected) is None


def test_a_transformer_that_raises_a_user_facing_error_is_explained() -> None:
    transformer = app_commands.transformers.IdentityTransformer(discord.AppCommandOptionType.string)
    try:
        raise app_commands.TransformerError("zzqx", discord.AppCommandOptionType.string, transformer) from (
            UserFacingError("No film found for “zzqx”.")
        )
    except app_commands.TransformerError as error:
        assert describe_user_error(error) == "No film found for “zzqx”."
    plain = app_commands.TransformerError("zzqx", discord.AppCommandOptionType.string, transformer)
    assert describe_user_error(plain) == "I couldn't understand 'zzqx' for that option."
