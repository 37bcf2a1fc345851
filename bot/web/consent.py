"""What members are told about the blog, and how a server's choice reads in Discord.

Publishing a Discord message on a public web page is a different kind of
publication from posting it in a server, so members are told where their replies
go, in the opening message of every review thread, for as long as publishing is on.
The wording depends on the server's consent mode.
"""

from __future__ import annotations

from ..storage.web import WebGuild, WebRepository
from ..text import MESSAGE_LIMIT, truncate

__all__ = [
    "BLOG_NOTICE_MARK",
    "blog_notice",
    "blog_notice_for",
    "describe_member_choice",
    "is_published",
    "with_blog_notice",
]

# Every notice starts with this mark, so an opening message's notice can be found and replaced.
BLOG_NOTICE_MARK = "💬 "
_NOTICE = {
    "notice": (
        f"{BLOG_NOTICE_MARK}Publishing is on: replies in this thread also appear as comments below the review "
        "on the blog. Use `/privacy blog hide` to keep yours off it."
    ),
    "opt-in": (
        f"{BLOG_NOTICE_MARK}Replies of members who chose `/privacy blog show` also appear as comments below "
        "the review on the blog; nobody else's are published."
    ),
}
_POLL_LINE = "Vote in the poll below"


def blog_notice(mode: str) -> str:
    """The opening-message line for a server publishing in ``mode``."""
    return _NOTICE.get(mode, _NOTICE["notice"])


async def blog_notice_for(repository: WebRepository, guild_id: int) -> str | None:
    """The line a new review thread's opening message carries in this server, or None when not publishing."""
    guild = await repository.guild(guild_id)
    return blog_notice(guild.consent_mode) if guild.publish else None


def with_blog_notice(content: str, notice: str | None) -> str:
    """``content`` (an opening message) with its blog notice replaced by ``notice``, or removed for None."""
    lines = [line for line in content.split("\n") if not line.startswith(BLOG_NOTICE_MARK)]
    if notice:
        at = next((i for i, line in enumerate(lines) if line.startswith(_POLL_LINE)), len(lines))
        lines.insert(at, notice)
    return truncate("\n".join(lines), MESSAGE_LIMIT)


def is_published(guild: WebGuild, preference: bool | None) -> bool:
    """Whether a member's comments in ``guild`` are shown on the blog (mirrors the web_public_comments view)."""
    if not guild.publish:
        return False
    if guild.consent_mode == "opt-in":
        return preference is True
    return preference is not False


def describe_member_choice(guild: WebGuild, preference: bool | None) -> str:
    """One sentence telling a member where their replies go in this server, and why."""
    if not guild.publish:
        shown = "are not published: this server does not publish its discussions on the blog"
        if preference is True:
            return f"Your replies {shown} right now; you chose to be shown if it starts."
        if preference is False:
            return f"Your replies {shown}, and you chose to stay off it if it starts."
        return f"Your replies {shown}."
    if is_published(guild, preference):
        why = "you chose to be shown" if preference else "this server publishes replies unless a member opts out"
        return (
            f"Your replies in review threads appear on the blog ({why}). Staff can still hide a single comment, "
            "and `/privacy blog hide` takes yours off."
        )
    why = "you chose to be hidden" if preference is False else "this server publishes only members who opted in"
    return f"Your replies are not shown on the blog ({why}). `/privacy blog show` puts them on it."
