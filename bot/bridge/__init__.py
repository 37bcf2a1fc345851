"""Two doors, one conversation: the blog's own comments mirrored into each review's Discord thread.

A review's comment feed (its feed item's ``<wfw:commentRss>``, or a Markdown review's
``comments_feed:``) is read on a schedule that follows the discussion
(:mod:`.schedule`); each comment is stored as a comment of the review with
``source: blog`` (:mod:`.service`), and posted once into every thread of the review
(:mod:`.delivery`), under the reader's name through a thread webhook or as Matinee's
own small card (:mod:`.render`). Services only (no discord.py types); the bridge cog
(``cogs/bridge``) runs the loop and implements :class:`MirrorTransport`.
"""

from ..storage.blog_comments import CommentFeedStatus
from .comment_feed import BlogCommentEntry, parse_comment_feed
from .delivery import MirrorDelivery, MirrorReport, MirrorTransport, Posted
from .service import BlogCommentBridge, CommentPoll, gone_from_blog

__all__ = [
    "BlogCommentBridge",
    "BlogCommentEntry",
    "CommentFeedStatus",
    "CommentPoll",
    "MirrorDelivery",
    "MirrorReport",
    "MirrorTransport",
    "Posted",
    "gone_from_blog",
    "parse_comment_feed",
]
