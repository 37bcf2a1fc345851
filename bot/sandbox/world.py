"""The sandbox's Discord server, "Film Club", and how Matinee is set up in it.

Why this exists: a first visit should show Matinee at work, not an empty server. The server
has ``#general`` and ``#reviews``, two members to act as and you as its owner. Matinee is then
set up the way a real owner would do it, by running its own commands through the double as
the owner: ``/matinee setup`` makes ``#reviews`` the announcement channel, ``/matinee web``
publishes the discussions on the blog (when the web server runs) and ``/matinee feed add``
follows the sample blog's feed with its existing reviews backfilled, so they are announced,
with their threads, prompts and polls, as the sandbox starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.discord_double import DiscordDouble, InteractionRecord
from bot.discord_double.protocol import FLAG_EPHEMERAL
from bot.preflight import invite_permissions

__all__ = ["MEMBER_NAMES", "OWNER_NAME", "SandboxSetupError", "SandboxWorld", "build_world", "set_up_matinee"]

GUILD_NAME = "Film Club"
OWNER_NAME = "You"
MEMBER_NAMES = ("Rosa", "Theo")
COMMAND_TIMEOUT = 60.0  # the owner's set-up commands; generous for a loaded machine


class SandboxSetupError(RuntimeError):
    """Matinee did not accept a set-up command; the message is its answer (or what went wrong)."""


@dataclass(frozen=True, slots=True)
class SandboxWorld:
    """The ids of the sandbox's server and the people in it."""

    guild_id: int
    owner_id: int
    member_ids: tuple[int, ...]
    general_channel_id: int
    reviews_channel_id: int

    @property
    def people(self) -> tuple[int, ...]:
        """Who the page lets you act as: you (the owner) first, then the members."""
        return (self.owner_id, *self.member_ids)


async def build_world(double: DiscordDouble) -> SandboxWorld:
    """Create the server, its channels and its members in the double (before or after the bot connects)."""
    owner = double.add_user(OWNER_NAME)
    guild = double.add_guild(GUILD_NAME, owner_id=int(owner["id"]))
    guild_id = int(guild["id"])
    general = await double.add_text_channel(guild_id, "general", topic="Say hello, or ask @Matinee about a film")
    reviews = await double.add_text_channel(
        guild_id, "reviews", topic="New reviews from the blog; each one opens a discussion thread"
    )
    # Inviting a bot gives it a role with the permissions the invite asked for (``matinee doctor`` prints them).
    role = await double.add_role(guild_id, "Matinee", invite_permissions().value)
    await double.add_member(guild_id, double.bot_user_id, roles=[int(role["id"])], bot=True)
    members = [await double.add_member(guild_id, name=name) for name in MEMBER_NAMES]
    return SandboxWorld(
        guild_id=guild_id,
        owner_id=int(owner["id"]),
        member_ids=tuple(int(m["user"]["id"]) for m in members),
        general_channel_id=int(general["id"]),
        reviews_channel_id=int(reviews["id"]),
    )


def answer_text(record: InteractionRecord) -> str:
    """What Matinee answered to an interaction, as plain text (its last message's content and embeds)."""
    messages = record.messages()
    if not messages:
        return ""
    last = messages[-1]
    parts = [last.get("content") or ""]
    for embed in last.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
    return "\n".join(p for p in parts if p)


async def run_as_owner(double: DiscordDouble, world: SandboxWorld, command: str, options: dict[str, object]) -> str:
    """Run a slash command as the owner in ``#general`` and return Matinee's (private) answer."""
    record = await double.invoke_command(world.guild_id, world.general_channel_id, world.owner_id, command, options)
    try:
        message = await record.wait_final_message(COMMAND_TIMEOUT)
    except TimeoutError:
        raise SandboxSetupError(f"Matinee did not answer /{command} within {COMMAND_TIMEOUT:g} s") from None
    text = answer_text(record)
    if not message.get("flags", 0) & FLAG_EPHEMERAL:
        raise SandboxSetupError(f"/{command} answered in public, unexpectedly: {text}")
    return text


async def set_up_matinee(
    double: DiscordDouble, world: SandboxWorld, *, feed_url: str, backfill: int, publish_on_blog: bool
) -> None:
    """Set Matinee up as the owner would: announcement channel, blog publishing, the blog's feed.

    Raises :class:`SandboxSetupError` with Matinee's answer when a step is refused.
    """
    answer = await run_as_owner(double, world, "matinee setup", {"channel": world.reviews_channel_id})
    if "Reviews will be announced in" not in answer:
        raise SandboxSetupError(f"/matinee setup was refused: {answer}")
    if publish_on_blog:
        answer = await run_as_owner(double, world, "matinee web", {"publish": "on"})
        if "Publishing is on" not in answer:
            raise SandboxSetupError(f"/matinee web was refused: {answer}")
    answer = await run_as_owner(double, world, "matinee feed add", {"url": feed_url, "backfill": backfill})
    if "Following" not in answer and "Already following" not in answer:
        raise SandboxSetupError(f"/matinee feed add was refused: {answer}")
