"""A loopback WordPress-shaped blog for the blog-comment bridge's tests (never the real web).

It serves, through a :class:`~tests.doubles.feed_server.FeedServer` (ETags, 304s):

- ``/feed/``: the posts feed, each item with ``<wfw:commentRss>`` and ``<slash:comments>``,
  as WordPress writes it;
- ``/<slug>/feed/``: each post's comment feed, newest first, at most ``window`` comments
  (WordPress's "Syndication feeds show the most recent"), items titled "By: Name" with
  ``dc:creator``, a ``guid`` of ``/?p=<post>#comment-<id>`` and a link to the anchor;
- ``/comments/feed/``: the site's comments feed.

A test adds, edits, deletes (or unapproves) comments and calls :meth:`publish`; it can
also break one post's comment feed (:meth:`break_comments`) to serve an HTML page, an
error status or a redirect loop instead.
"""

from __future__ import annotations

import email.utils
import html
import itertools
import time
from dataclasses import dataclass, field

from tests.doubles.feed_server import FeedServer

__all__ = ["BlogComment", "BlogPost", "WordPressSite"]

BASE_TIME = time.time() - 3 * 86_400  # posts are a few days old: their comment feeds are read often


def rfc822(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


@dataclass
class BlogComment:
    id: int
    author: str
    html: str
    at: float
    approved: bool = True
    raw: bytes | None = None  # served verbatim as the comment's content (invalid UTF-8 and the like)


@dataclass
class BlogPost:
    id: int
    slug: str
    title: str
    at: float
    body: str = "<p>Wong Kar-wai's Hong Kong, with Faye Wong and canned pineapple.</p>"
    comments: list[BlogComment] = field(default_factory=list)


class WordPressSite:
    def __init__(self, server: FeedServer, *, window: int = 10) -> None:
        self.server = server
        self.window = window
        self.posts: dict[str, BlogPost] = {}
        self._ids = itertools.count(100)
        self._broken: dict[str, dict] = {}

    # -- addresses ----------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return self.server.url("")

    @property
    def feed_url(self) -> str:
        return self.server.url("/feed/")

    def post_url(self, slug: str) -> str:
        return self.server.url(f"/{slug}/")

    def comments_feed_url(self, slug: str) -> str:
        return self.server.url(f"/{slug}/feed/")

    def anchor(self, slug: str, comment_id: int) -> str:
        return f"{self.post_url(slug)}#comment-{comment_id}"

    # -- writing the blog ---------------------------------------------------------------------

    def add_post(self, slug: str, title: str, *, hours: float = 0) -> BlogPost:
        post = BlogPost(next(self._ids), slug, title, BASE_TIME + hours * 3600)
        self.posts[slug] = post
        return post

    def add_comment(self, slug: str, author: str, body: str, *, hours: float | None = None,
                    raw: bytes | None = None) -> BlogComment:  # fmt: skip
        """A comment written now, like a reader would (or ``hours`` after the blog's start: an old one)."""
        post = self.posts[slug]
        latest = max([c.at for c in post.comments] + [post.at])
        when = BASE_TIME + hours * 3600 if hours is not None else max(latest + 1, time.time())
        comment = BlogComment(next(self._ids), author, body, when, raw=raw)
        post.comments.append(comment)
        return comment

    def edit_comment(self, slug: str, comment_id: int, body: str) -> None:
        self._comment(slug, comment_id).html = body

    def delete_comment(self, slug: str, comment_id: int) -> None:
        post = self.posts[slug]
        post.comments = [c for c in post.comments if c.id != comment_id]

    def unapprove(self, slug: str, comment_id: int) -> None:
        self._comment(slug, comment_id).approved = False

    def approve(self, slug: str, comment_id: int) -> None:
        self._comment(slug, comment_id).approved = True

    def break_comments(self, slug: str, **route_options) -> None:
        """Serve something else at the post's comment feed: ``body=``/``status=``/``redirect_to=``…"""
        self._broken[slug] = route_options

    def mend_comments(self, slug: str) -> None:
        self._broken.pop(slug, None)

    def _comment(self, slug: str, comment_id: int) -> BlogComment:
        return next(c for c in self.posts[slug].comments if c.id == comment_id)

    # -- serving -------------------------------------------------------------------------------

    def publish(self) -> None:
        """Serve every feed as the blog stands now (changed documents get new ETags)."""
        posts = sorted(self.posts.values(), key=lambda p: p.at, reverse=True)
        self.server.serve("/feed/", self._posts_feed(posts))
        everything = []
        for post in posts:
            everything.extend((post, c) for c in self._approved(post))
            path = f"/{post.slug}/feed/"
            broken = self._broken.get(post.slug)
            if broken is not None:
                self.server.serve(path, **broken)
            else:
                self.server.serve(path, self._comments_feed(f"Comments on: {post.title}", [(post, c) for c in
                                                                                             self._approved(post)]))
        everything.sort(key=lambda pc: pc[1].at, reverse=True)
        self.server.serve("/comments/feed/", self._comments_feed("Comments for The Film Blog", everything))

    @staticmethod
    def _approved(post: BlogPost) -> list[BlogComment]:
        return sorted((c for c in post.comments if c.approved), key=lambda c: c.at, reverse=True)

    def _posts_feed(self, posts: list[BlogPost]) -> bytes:
        items = []
        for post in posts:
            items.append(
                f"<item><title>{html.escape(post.title)}</title><link>{self.post_url(post.slug)}</link>"
                f"<comments>{self.post_url(post.slug)}#comments</comments>"
                f"<dc:creator><![CDATA[Wong Critic]]></dc:creator><pubDate>{rfc822(post.at)}</pubDate>"
                f'<guid isPermaLink="false">{self.base}/?p={post.id}</guid>'
                f"<description><![CDATA[{post.body}]]></description>"
                f"<content:encoded><![CDATA[{post.body}]]></content:encoded>"
                f"<wfw:commentRss>{self.comments_feed_url(post.slug)}</wfw:commentRss>"
                f"<slash:comments>{len(self._approved(post))}</slash:comments></item>"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:wfw="http://wellformedweb.org/CommentAPI/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:slash="http://purl.org/rss/1.0/modules/slash/">'
            f"<channel><title>The Film Blog</title><link>{self.base}/</link><description>Reviews</description>"
            + "".join(items)
            + "</channel></rss>"
        ).encode()

    def _comments_feed(self, title: str, comments: list[tuple[BlogPost, BlogComment]]) -> bytes:
        parts = [
            b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            b'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            + f"<channel><title>{html.escape(title)}</title><link>{self.base}/</link>".encode()
        ]
        for post, comment in comments[: self.window]:
            content = comment.raw if comment.raw is not None else comment.html.encode()
            parts.append(
                f"<item><title>By: {html.escape(comment.author)}</title>"
                f"<link>{self.anchor(post.slug, comment.id)}</link>"
                f"<dc:creator><![CDATA[{comment.author}]]></dc:creator><pubDate>{rfc822(comment.at)}</pubDate>"
                f'<guid isPermaLink="false">{self.base}/?p={post.id}#comment-{comment.id}</guid>'
                "<description><![CDATA[".encode()
                + content[:200]
                + b"]]></description><content:encoded><![CDATA["
                + content
                + b"]]></content:encoded></item>"
            )
        parts.append(b"</channel></rss>")
        return b"".join(parts)
