"""The Discord permissions Matinee needs: declared once, for the invite URL and the channel checks.

``matinee doctor`` builds the invite URL from :data:`REQUIRED_PERMISSIONS`, the
README's invite section lists exactly their labels (a test compares), and
``/matinee setup`` and ``/matinee about`` check the channels Matinee posts in
against the ones each kind of channel needs. :data:`OPTIONAL_PERMISSIONS` are
not asked for in the invite: each makes one feature nicer where a server grants
it (``/matinee about`` says which, and what it would give). Flags are discord.py's
``Permissions`` attribute names; nothing here imports discord.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ANNOUNCEMENTS",
    "LOG",
    "OPTIONAL_PERMISSIONS",
    "REQUIRED_PERMISSIONS",
    "ChannelRole",
    "RequiredPermission",
    "missing_optional_permissions",
    "missing_permissions",
]

ChannelRole = Literal["announcements", "log"]
ANNOUNCEMENTS: ChannelRole = "announcements"  # where reviews are announced and discussed (setup or a feed's channel)
LOG: ChannelRole = "log"  # where feed and delivery problems are reported


@dataclass(frozen=True, slots=True)
class RequiredPermission:
    flag: str  # discord.Permissions attribute
    label: str  # the name Discord's settings show
    why: str
    checked_in: tuple[ChannelRole, ...] = ()  # the channels it is needed in (empty: server-wide only)


_POSTS = (ANNOUNCEMENTS,)
_EVERYWHERE = (ANNOUNCEMENTS, LOG)

REQUIRED_PERMISSIONS: tuple[RequiredPermission, ...] = (
    RequiredPermission("view_channel", "View Channels", "see the channels it posts in", _EVERYWHERE),
    RequiredPermission("send_messages", "Send Messages", "announce reviews and report problems", _EVERYWHERE),
    RequiredPermission("send_messages_in_threads", "Send Messages in Threads", "post the opening and poll", _POSTS),
    RequiredPermission("create_public_threads", "Create Public Threads", "open each review's thread", _POSTS),
    RequiredPermission("manage_threads", "Manage Threads", "archive, unarchive and rename review threads", _POSTS),
    RequiredPermission("embed_links", "Embed Links", "show the review card", _POSTS),
    RequiredPermission("attach_files", "Attach Files", "send /matinee export files"),
    RequiredPermission("read_message_history", "Read Message History", "backfill comments, reconcile posts", _POSTS),
    RequiredPermission("add_reactions", "Add Reactions", "react in review threads"),
    RequiredPermission("send_polls", "Create Polls", "add the star-rating poll", _POSTS),
)


# Not in the invite: a server grants them where it wants what they give, and Matinee works without them.
OPTIONAL_PERMISSIONS: tuple[RequiredPermission, ...] = (
    RequiredPermission(
        "manage_webhooks",
        "Manage Webhooks",
        "post blog comments in review threads under the commenter's name (without it: as Matinee's own message)",
        _POSTS,
    ),
)


def missing_permissions(granted: object, role: ChannelRole) -> list[str]:
    """Labels of the permissions a channel of ``role`` needs that ``granted`` lacks.

    ``granted`` is anything with the flags as boolean attributes: discord.py's
    ``channel.permissions_for(guild.me)`` in a cog.
    """
    return [p.label for p in REQUIRED_PERMISSIONS if role in p.checked_in and not getattr(granted, p.flag, False)]


def missing_optional_permissions(granted: object, role: ChannelRole) -> list[RequiredPermission]:
    """The optional permissions a channel of ``role`` could use and ``granted`` lacks (with what each would give)."""
    return [p for p in OPTIONAL_PERMISSIONS if role in p.checked_in and not getattr(granted, p.flag, False)]
