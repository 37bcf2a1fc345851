"""The sandbox's sample blog: review pages, an index and an RSS feed, built from Markdown files.

Why this exists: Matinee's story starts on a blog, so the sandbox runs one. It is what a Hugo
or Jekyll site would publish from the sample reviews in ``data/reviews``: a page per review,
with the comments widget below it, and a WordPress-shaped RSS feed that the bot follows like
any other (``/matinee feed add``). One more review is held back and published a minute after
start, so the user can watch the feed path work: poll, announce once, open the thread.

Every address here is on the sandbox's own loopback server, including the posters (small
SVGs drawn here), so nothing a page shows is fetched from the internet. The Markdown is
trusted sample content, but it is still escaped before the few inline marks become tags.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import format_datetime
from pathlib import Path

from aiohttp import web

from bot.reviews.draft import slugify
from bot.reviews.markdown import MarkdownError, parse_review_file
from bot.text import star_rating

__all__ = ["BLOG_PREFIX", "Post", "SampleBlog", "load_posts", "markdown_html"]

BLOG_PREFIX = "/blog"
BLOG_TITLE = "The Matinee Sample Blog"
CONTENT = Path(__file__).with_name("content")
UPCOMING = CONTENT / "in-the-mood-for-love.md"
_BODY = re.compile(r"\A\ufeff?---[ \t]*\r?\n.*?\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_POSTER_COLOURS = ("#c41e3a", "#1f6f8b", "#6a4c93", "#2a9d8f", "#e76f51", "#264653")


@dataclass(frozen=True, slots=True)
class Post:
    """One review on the blog; ``body_md`` is the Markdown under the front matter."""

    slug: str
    title: str
    body_md: str
    film: str | None = None
    year: int | None = None
    rating: float | None = None
    author: str | None = None
    published: dt.datetime | None = None
    tags: tuple[str, ...] = ()
    spoilers: bool = False

    @property
    def film_label(self) -> str:
        return f"{self.film} ({self.year})" if self.film and self.year else self.film or self.title


def read_post(path: Path) -> Post:
    """A post from one Markdown review file (the front matter is read by the bot's own parser)."""
    text = path.read_text(encoding="utf-8")
    draft = parse_review_file(text, source_key=path.name)
    match = _BODY.match(text)
    body = text[match.end() :] if match else text
    return Post(
        slug=slugify(path.stem),
        title=draft.title,
        body_md=body.strip(),
        film=draft.film_title,
        year=draft.film_year,
        rating=draft.rating,
        author=draft.author,
        published=draft.published_at,
        tags=tuple(draft.tags),
        spoilers=draft.spoilers,
    )


def load_posts(directory: Path) -> list[Post]:
    """Every readable review in ``directory``, newest first; unreadable files are skipped."""
    posts = []
    for path in sorted(directory.glob("*.md")):
        with contextlib.suppress(MarkdownError, OSError, UnicodeDecodeError):
            posts.append(read_post(path))
    return sorted(posts, key=lambda p: p.published or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True)


# -- Markdown to HTML (the handful of marks the sample reviews use) ---------------------------------

_INLINE = (
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<em>\1</em>"),
    (re.compile(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)"), r"<em>\1</em>"),
    (re.compile(r"\[([^\]]+)\]\((https?://[^\s)]+)\)"), r'<a href="\2" rel="noopener">\1</a>'),
)


def _inline(text: str) -> str:
    out = html.escape(text, quote=True)
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    return out


def markdown_html(markdown: str) -> str:
    """Paragraphs, ``##`` headings, ``>`` quotes, emphasis and links; everything else is escaped text."""
    blocks = [b.strip("\n") for b in re.split(r"\n\s*\n", markdown.strip()) if b.strip()]
    out = []
    for block in blocks:
        lines = block.splitlines()
        heading = re.match(r"^(#{1,6})\s+(.*)$", block)
        if heading and len(lines) == 1:
            level = min(len(heading.group(1)) + 1, 6)  # the page's title is the only <h1>
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif all(line.startswith(">") for line in lines):
            text = " ".join(line[1:].strip() for line in lines)
            out.append(f"<blockquote><p>{_inline(text)}</p></blockquote>")
        else:
            out.append(f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>")
    return "\n".join(out)


def poster_svg(post: Post) -> str:
    """A made-up poster: the film's title on a colour picked from its name."""
    colour = _POSTER_COLOURS[int(hashlib.sha256(post.slug.encode()).hexdigest(), 16) % len(_POSTER_COLOURS)]
    title = html.escape(post.film or post.title)
    year = html.escape(str(post.year or ""))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="360" viewBox="0 0 640 360">'
        f'<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="{colour}"/>'
        '<stop offset="1" stop-color="#111214"/></linearGradient></defs>'
        '<rect width="640" height="360" fill="url(#g)"/>'
        '<text x="40" y="200" font-family="Georgia, serif" font-size="44" fill="#fff">'
        f"{title}</text>"
        f'<text x="40" y="250" font-family="Georgia, serif" font-size="26" fill="#ddd">{year}</text>'
        '<text x="40" y="320" font-family="sans-serif" font-size="16" fill="#bbb">Matinee sample blog</text></svg>'
    )


# -- the blog ---------------------------------------------------------------------------------------


@dataclass
class SampleBlog:
    """The blog's posts and its publication schedule, served under ``/blog`` of the sandbox's server.

    ``base_url`` is the server's origin (known once it listens); ``widget_url`` is Matinee's
    public web address, whose ``/embed.js`` is the comments widget (None: no widget).
    ``on_change`` is told when the held-back review goes live and whenever the feed is read,
    so the page can show the feed path at work.
    """

    posts: list[Post]
    upcoming: Post | None = None
    publish_after: float = 60.0
    base_url: str = ""
    widget_url: str | None = None
    on_change: Callable[[], None] | None = None
    feed_reads: int = 0  # how often Matinee (or anyone) read the feed; the page shows when it last did
    _last_read: float | None = None
    _due: float | None = None
    _task: asyncio.Task[None] | None = None

    @classmethod
    def from_directory(cls, directory: Path | None, **options: object) -> SampleBlog:
        """The blog of the reviews in ``directory`` plus the held-back review shipped with the sandbox."""
        posts = load_posts(directory) if directory is not None and directory.is_dir() else []
        upcoming = read_post(UPCOMING)
        if any(p.slug == upcoming.slug for p in posts):
            upcoming = None
        return cls(posts, upcoming, **options)  # type: ignore[arg-type]

    # -- schedule

    def start(self) -> None:
        """Start the clock: the held-back review goes live ``publish_after`` seconds from now."""
        if self.upcoming is None or self._task is not None:
            return
        self._due = time.monotonic() + self.publish_after
        self._task = asyncio.create_task(self._publish_later(), name="sandbox-blog-publish")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _publish_later(self) -> None:
        assert self._due is not None
        await asyncio.sleep(max(0.0, self._due - time.monotonic()))
        self.publish_now()

    def publish_now(self) -> Post | None:
        """Publish the held-back review (dated now); returns it, or None when nothing is held back."""
        post = self.upcoming
        if post is None:
            return None
        live = replace(post, published=dt.datetime.now(dt.UTC).replace(microsecond=0))
        self.posts.insert(0, live)
        self.upcoming = None
        self._due = None
        self._changed()
        return live

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def status(self) -> dict[str, object]:
        """What the page shows about the blog: its address, and when the next review goes live."""
        upcoming = None
        if self.upcoming is not None and self._due is not None:
            upcoming = {"title": self.upcoming.title, "in_seconds": max(0.0, round(self._due - time.monotonic(), 1))}
        since = None if self._last_read is None else round(time.monotonic() - self._last_read, 1)
        return {
            "url": self.url(),
            "feed_url": self.feed_url,
            "feed_reads": self.feed_reads,
            "feed_read_seconds_ago": since,
            "posts": [{"title": p.title, "url": self.url(p), "film": p.film} for p in self.posts],
            "upcoming": upcoming,
        }

    # -- addresses

    def url(self, post: Post | None = None) -> str:
        return f"{self.base_url}{BLOG_PREFIX}/" + (f"reviews/{post.slug}/" if post else "")

    @property
    def feed_url(self) -> str:
        return f"{self.base_url}{BLOG_PREFIX}/feed/"

    def poster_url(self, post: Post) -> str:
        return f"{self.base_url}{BLOG_PREFIX}/posters/{post.slug}.svg"

    def post(self, slug: str) -> Post | None:
        return next((p for p in self.posts if p.slug == slug), None)

    # -- HTTP

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(f"{BLOG_PREFIX}/", self._index)
        app.router.add_get(f"{BLOG_PREFIX}/feed/", self._feed)
        app.router.add_get(BLOG_PREFIX + "/reviews/{slug}/", self._page)
        app.router.add_get(BLOG_PREFIX + "/posters/{slug}.svg", self._poster)

    def _headers(self) -> dict[str, str]:
        widget = self.widget_url or "'none'"  # the widget's server is the only script and connection allowed
        csp = (
            "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
            f"img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src {widget}; connect-src {widget}"
        )
        return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}

    def _layout(self, title: str, main: str, *, canonical: str) -> str:
        widget = ""
        if self.widget_url:
            widget = f'<script src="{html.escape(self.widget_url)}/embed.js" crossorigin="anonymous" async></script>'
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="canonical" href="{html.escape(canonical)}">
<style>{_BLOG_CSS}</style>
</head><body>
<header class="site"><a href="{html.escape(self.url())}">{html.escape(BLOG_TITLE)}</a>
<span>Film reviews, and what our readers thought of the films</span></header>
<main>{main}</main>
<footer class="site">A sample blog served by the Matinee sandbox on this computer.
<a href="{html.escape(self.feed_url)}">RSS feed</a></footer>
{widget}
</body></html>"""

    def _meta_line(self, post: Post) -> str:
        parts = []
        if post.author:
            parts.append(f"By {html.escape(post.author)}")
        if post.published:
            parts.append(f'<time datetime="{post.published.isoformat()}">{post.published:%d %B %Y}</time>')
        if post.rating is not None:
            parts.append(f'<span class="stars" title="{post.rating:g} out of 5">{star_rating(post.rating)}</span>')
        return " · ".join(parts)

    async def _index(self, request: web.Request) -> web.Response:
        items = []
        for post in self.posts:
            link = html.escape(self.url(post))
            items.append(
                f'<article class="teaser"><h2><a href="{link}">{html.escape(post.title)}</a></h2>'
                f'<p class="meta">{self._meta_line(post)}</p>'
                f"<p>{_inline(_first_paragraph(post.body_md))}</p>"
                f'<p class="meta"><a href="{link}#comments">'
                f'<span class="matinee-count" data-url="{link}">Comments</span></a></p></article>'
            )
        if self.upcoming is not None:
            items.append('<p class="upcoming">One more review is on its way…</p>')
        body = f"<h1>Latest reviews</h1>{''.join(items)}"
        return web.Response(text=self._layout(BLOG_TITLE, body, canonical=self.url()), content_type="text/html",
                            headers=self._headers())  # fmt: skip

    async def _page(self, request: web.Request) -> web.Response:
        post = self.post(request.match_info["slug"])
        if post is None:
            raise web.HTTPNotFound(text="No such review on the sample blog.")
        spoiler = '<p class="spoiler-note">This review discusses the ending.</p>' if post.spoilers else ""
        comments = (
            '<div class="matinee-comments"></div>'
            if self.widget_url
            else "<p>The comments appear here when Matinee's web server runs.</p>"
        )
        main = f"""<article class="review">
<h1>{html.escape(post.title)}</h1>
<p class="meta">{self._meta_line(post)}</p>
<img class="poster" src="{html.escape(self.poster_url(post))}" alt="{html.escape(post.film_label)}"
 width="640" height="360">
{spoiler}{markdown_html(post.body_md)}
<p class="cta">What did you think? Let me know in the comments below.</p>
</article>
<section id="comments"><h2>Comments</h2>{comments}</section>"""
        return web.Response(text=self._layout(post.title, main, canonical=self.url(post)), content_type="text/html",
                            headers=self._headers())  # fmt: skip

    async def _poster(self, request: web.Request) -> web.Response:
        post = self.post(request.match_info["slug"]) or (
            self.upcoming if self.upcoming and self.upcoming.slug == request.match_info["slug"] else None
        )
        if post is None:
            raise web.HTTPNotFound()
        return web.Response(text=poster_svg(post), content_type="image/svg+xml",
                            headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"})  # fmt: skip

    def feed_xml(self) -> str:
        """The RSS 2.0 document, shaped like WordPress's, with Letterboxd's film fields."""
        items = []
        for post in self.posts:
            link = html.escape(self.url(post))
            content = (
                f'<p><img src="{html.escape(self.poster_url(post))}" alt="{html.escape(post.film_label)}"></p>'
                + markdown_html(post.body_md)
            ).replace("]]>", "]]]]><![CDATA[>")
            categories = "".join(f"<category>{html.escape(t)}</category>" for t in post.tags)
            if post.spoilers:
                categories += "<category>Spoilers</category>"
            film = ""
            if post.film:
                film += f"<letterboxd:filmTitle>{html.escape(post.film)}</letterboxd:filmTitle>"
            if post.year:
                film += f"<letterboxd:filmYear>{post.year}</letterboxd:filmYear>"
            if post.rating is not None:
                film += f"<letterboxd:memberRating>{post.rating:g}</letterboxd:memberRating>"
            pub = f"<pubDate>{format_datetime(post.published)}</pubDate>" if post.published else ""
            creator = f"<dc:creator>{html.escape(post.author)}</dc:creator>" if post.author else ""
            items.append(
                f"<item><title>{html.escape(post.title)}</title><link>{link}</link>"
                f'<guid isPermaLink="false">{html.escape(self.base_url)}/?p={post.slug}</guid>{pub}{creator}'
                f"{categories}{film}<description>{html.escape(_first_paragraph(post.body_md))}</description>"
                f"<content:encoded><![CDATA[{content}]]></content:encoded></item>"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:letterboxd="https://letterboxd.com">'
            f"<channel><title>{html.escape(BLOG_TITLE)}</title><link>{html.escape(self.url())}</link>"
            f"<description>Film reviews</description>{''.join(items)}</channel></rss>"
        )

    async def _feed(self, request: web.Request) -> web.Response:
        self.feed_reads += 1
        self._last_read = time.monotonic()
        self._changed()
        body = self.feed_xml().encode("utf-8")
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/rss+xml", charset="utf-8", headers={"ETag": etag})


def _first_paragraph(markdown: str) -> str:
    first = re.split(r"\n\s*\n", markdown.strip(), maxsplit=1)[0]
    return " ".join(line.strip() for line in first.splitlines())


_BLOG_CSS = """
:root { color-scheme: light dark; --ink: #1d1d1f; --paper: #fbfaf7; --muted: #6b6b70; --accent: #c41e3a; }
@media (prefers-color-scheme: dark) { :root { --ink: #e8e6e3; --paper: #18181a; --muted: #a0a0a8; } }
body { margin: 0; background: var(--paper); color: var(--ink); font: 18px/1.6 Georgia, "Times New Roman", serif; }
header.site, footer.site { padding: 1rem 1.5rem; font: 14px/1.4 system-ui, sans-serif; color: var(--muted); }
header.site a { color: var(--accent); font-weight: 700; font-size: 18px; text-decoration: none; margin-right: 1rem; }
main { max-width: 44rem; margin: 0 auto; padding: 0 1.5rem 3rem; }
h1 { font-size: 2rem; line-height: 1.2; margin: 1.5rem 0 .25rem; }
.meta { color: var(--muted); font: 14px/1.4 system-ui, sans-serif; }
.stars { color: #e0a100; letter-spacing: 1px; }
img.poster { width: 100%; height: auto; border-radius: 6px; margin: 1rem 0; }
blockquote { border-left: 3px solid var(--accent); margin: 1.5rem 0; padding: 0 1rem; font-style: italic; }
.cta { font-weight: 700; }
.teaser { border-bottom: 1px solid color-mix(in srgb, var(--muted) 30%, transparent); padding-bottom: 1rem; }
.teaser h2 { margin-bottom: 0; } .teaser h2 a { color: inherit; }
.upcoming, .spoiler-note { color: var(--muted); font-style: italic; }
#comments { margin-top: 2rem; }
a { color: var(--accent); }
"""
