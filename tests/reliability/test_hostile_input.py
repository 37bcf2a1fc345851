"""The hostile-input corpus at the service level: one test per case.

Each case feeds Matinee's own code (the shared text helpers, the storage layer's
search, the HTML export, the feed parser, the path guards) something a member, a
feed or a model could send, and asserts the property that must hold. The
end-to-end mention cases, which check every payload sent to the Discord double,
are in test_hostile_e2e.py.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot import text
from bot.discussions.export import build_document, render_html, render_markdown, safe_file_stem
from bot.models import Comment
from bot.storage import Database, FilmRepository, ReviewRepository, fts_prefix_query

# --------------------------------------------------------------------------- mentions

REAL_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>")
MENTIONS = {
    "everyone": "hey @everyone look",
    "here": "@here new review",
    "user": "thanks <@123456789012345678>!",
    "nick user": "thanks <@!123456789012345678>!",
    "role": "ping <@&987654321098765432> now",
    "zwsp inside everyone": "@\u200beveryone",
    "zero-width joiner after @": "@\u200deveryone",
    "word joiner in role": "<@\u2060&987654321098765432>",
    "soft hyphen in here": "@\u00adhere",
    "upper case": "@EVERYONE and @Here",
    "repeated": "@everyone @everyone @here <@1> <@&2>" * 20,
    "inside code": "`@everyone` and ```\n@here\n```",
    "inside a link label": "[@everyone](https://example.com)",
    "after RTL override": "\u202e@everyone",
}


@pytest.mark.parametrize("case", sorted(MENTIONS))
def test_neutralize_mentions_leaves_no_pingable_token(case: str) -> None:
    out = text.neutralize_mentions(MENTIONS[case])
    visible = text.clean_text(out)
    # After removing the invisible characters Discord ignores, nothing parses as a mention.
    stripped = re.sub("[\u200b\u200c\u200d\u2060\u00ad\ufeff]", "", visible)
    assert not REAL_MENTION.search(out)
    assert not REAL_MENTION.search(stripped.replace("@\u200b", "@")) or "@\u200b" in out


# --------------------------------------------------------------------------- lengths

LIMITS = [100, 256, 2000, 4096, 6000]


@pytest.mark.parametrize("limit", LIMITS)
@pytest.mark.parametrize("over", [0, 1])
def test_truncate_exactly_at_and_one_over_each_limit(limit: int, over: int) -> None:
    source = ("word " * 3000)[: limit + over]
    out = text.truncate(source, limit)
    assert len(out) <= limit
    if over == 0:
        assert out == source
    else:
        assert out.endswith(text.ELLIPSIS)


@pytest.mark.parametrize("size", [2000, 2001, 4000, 4001])
def test_split_message_at_and_over_2000_keeps_every_character(size: int) -> None:
    source = ("abcdefghi " * 1000)[:size]
    parts = text.split_message(source)
    assert all(0 < len(p) <= text.MESSAGE_LIMIT for p in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == source.replace(" ", "")
    assert len(parts) == (1 if size <= 2000 else 2 if size <= 4000 else 3)


CLUSTERS = {
    "surrogate pair emoji": "😀",
    "zwj family": "👩\u200d👩\u200d👧\u200d👦",
    "skin tone": "👍🏽",
    "flag": "🇫🇷",
    "combining acute": "e\u0301",
    "stacked combining": "a\u0300\u0301\u0302\u0303",
    "variation selector": "❤\ufe0f",
    "hangul jamo": "\u1100\u1161\u11a8",
}


@pytest.mark.parametrize("cluster", sorted(CLUSTERS))
@pytest.mark.parametrize("limit", [100, 256])
def test_truncate_never_cuts_inside_a_grapheme(cluster: str, limit: int) -> None:
    unit = CLUSTERS[cluster]
    for shift in range(len(unit) + 2):
        source = "x" * (limit - 3 - shift) + unit * 40
        out = text.truncate(source, limit)
        body = out.removesuffix(text.ELLIPSIS)
        assert len(out) <= limit
        assert source.startswith(body)
        rest = source[len(body) :]
        # The cut is at a cluster boundary: what follows starts a new cluster.
        assert rest == "" or rest.startswith(unit) or rest[0] == "x", (cluster, shift, body[-5:], rest[:5])
        assert not re.search("[\ud800-\udfff]", out)


@pytest.mark.parametrize(
    "raw,banned",
    [
        ("evil\u202etxt.exe", "\u202e"),
        ("isolate \u2066x\u2069", "\u2066"),
        ("nul\x00byte", "\x00"),
        ("bell\x07", "\x07"),
        ("lone surrogate \ud800 here", "\ud800"),
    ],
)
def test_clean_text_removes_bidi_overrides_and_control_characters(raw: str, banned: str) -> None:
    out = text.clean_text(raw)
    assert banned not in out
    assert out.replace(" ", "")[:3] == raw.replace(" ", "")[:3]


# --------------------------------------------------------------------------- Markdown breakers

BREAKERS = {
    "unbalanced bold": "**" + "bold text " * 400,
    "unbalanced italics": "_" + "lean " * 500,
    "open code fence": "```python\n" + "print('x')\n" * 300,
    "open spoiler": "||" + "the ending is " * 300,
    "open strike": "~~" + "struck " * 400,
    "inline code": "`" + "code " * 500,
}


@pytest.mark.parametrize("case", sorted(BREAKERS))
def test_truncated_markdown_closes_what_it_opened(case: str) -> None:
    out = text.truncate(BREAKERS[case], 2000)
    assert len(out) <= 2000
    for marker in ("```", "||", "**", "~~"):
        assert out.count(marker) % 2 == 0, (marker, out[-40:])


BALANCED_LONG = {
    "long code block": "```python\n" + "print('x')\n" * 600 + "```",
    "long spoiler": "||" + "the ending is " * 500 + "||",
    "long bold": "**" + "bold text " * 500 + "**",
}


@pytest.mark.parametrize("case", sorted(BALANCED_LONG))
def test_split_message_keeps_each_part_balanced(case: str) -> None:
    parts = text.split_message(BALANCED_LONG[case])
    assert len(parts) > 1
    for part in parts:
        assert len(part) <= 2000
        for marker in ("```", "||"):
            assert part.count(marker) % 2 == 0, (marker, part[:30], part[-30:])


# --------------------------------------------------------------------------- search boxes

SEARCHES = [
    '"',
    '""""',
    "*",
    "NEAR(heat alien, 2)",
    "heat AND",
    "OR OR OR",
    "NOT",
    "(",
    ")))",
    "-",
    "title:heat",
    "^heat",
    "heat*)",
    "'; DROP TABLE reviews; --",
    "1' OR '1'='1",
    "% _ \\",
    "\x00",
    "🎬🍿",
    "\u202eevil",
    "x" * 200,
    "",
    "   ",
]


@pytest.fixture
async def catalog_db(tmp_path: Path):
    db = await Database.open(tmp_path / "s.db")
    await db.migrate()
    films = FilmRepository(db)
    await films.add("Heat", year=1995)
    await films.add("Alien", year=1979)
    await ReviewRepository(db).upsert(
        source="markdown", source_key="heat.md", slug="heat", title="Heat review", url=None,
        film_title="Heat", film_year=1995, body_md="Two men, one table.", excerpt="Two men.", content_hash="1",
    )  # fmt: skip
    yield db
    await db.close()


@pytest.mark.parametrize("query", SEARCHES, ids=[repr(q)[:30] for q in SEARCHES])
async def test_every_search_box_accepts_fts_syntax_and_sql_fragments(catalog_db: Database, query: str) -> None:
    fts_prefix_query(query)  # never raises
    reviews = await ReviewRepository(catalog_db).search(query)
    films = await FilmRepository(catalog_db).search(query)
    found, total = await ReviewRepository(catalog_db).search_page(query)
    assert isinstance(reviews, list) and isinstance(films, list) and total >= len(found)
    # Nothing was executed: the tables are intact.
    assert await catalog_db.fetchval("SELECT count(*) FROM reviews") == 1
    assert await catalog_db.fetchval("SELECT count(*) FROM films") >= 2


async def test_search_still_finds_what_a_hostile_query_contains(catalog_db: Database) -> None:
    assert [r.slug for r in await ReviewRepository(catalog_db).search('"heat*)')] == ["heat"]
    assert "Heat" in [f.title for f in await FilmRepository(catalog_db).search('"heat" (')]


# --------------------------------------------------------------------------- HTML export

XSS = {
    "script tag": "<script>alert(1)</script>",
    "img onerror": '<img src=x onerror="alert(1)">',
    "svg onload": "<svg/onload=alert(1)>",
    "javascript link": "[click](javascript:alert(document.cookie))",
    "mixed-case javascript": "[click](JaVaScRiPt:alert(1))",
    "entity-encoded javascript": "[x](&#106;avascript:alert(1))",
    "data url": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "attribute breakout in url": 'https://example.com/"onmouseover="alert(1)',
    "link with quote": '[x](https://example.com/" onclick="alert(1))',
    "closing code fence injection": "```\n</code></pre><script>alert(1)</script>\n```",
    "inline code injection": "`</code><script>alert(1)</script>`",
    "iframe": '<iframe src="https://evil.example"></iframe>',
    "style tag": "<style>body{display:none}</style>",
    "html comment": "<!-- --><script>alert(1)</script>",
    "nested markdown": "**<b onclick=alert(1)>bold</b>**",
}

ALLOWED_TAGS = {"a", "p", "br", "em", "strong", "code", "pre", "del", "s", "span", "blockquote", "ul", "ol", "li",
                "div", "article", "section", "header", "footer", "h1", "h2", "h3", "h4", "time", "small", "cite",
                "details", "summary", "b", "i", "u", "img"}  # fmt: skip


class TagAudit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "iframe", "svg", "object", "embed") or tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "srcdoc", "formaction"):
                self.problems.append(f"attribute {name}")
            if name in ("href", "src") and value is not None:
                scheme = value.strip().lower().split(":", 1)[0]
                if ":" in value and scheme not in ("http", "https"):
                    self.problems.append(f"{name}={value!r}")


def _document(content: str, author: str = "Mo", title: str = "Heat review") -> dict:
    from bot.models import Review

    review = Review(
        id=1, source="markdown", source_key="k", slug="heat", title=title, url="https://blog.example/heat",
        author="<b>critic</b>", published_at=None, film_id=None, film_title="Heat<script>x</script>",
        film_year=1995, rating=4.0, excerpt="", body_md="", image_url=None, tags=(), spoilers=False,
        content_hash="",
    )  # fmt: skip
    comments = [
        Comment(message_id=10, review_id=1, guild_id=1, thread_id=2, author_id=3, author_name=author,
                content=content, created_at="2025-01-01T00:00:00Z"),
        Comment(message_id=11, review_id=1, guild_id=1, thread_id=2, author_id=4, author_name="Re",
                content=content, created_at="2025-01-01T00:01:00Z", reply_to_id=10),
    ]  # fmt: skip
    return build_document(review, comments, {5: 1}, False, generated_at="2025-01-01T00:00:00Z")


@pytest.mark.parametrize("case", sorted(XSS))
def test_html_export_neutralises_injection_in_comments(case: str) -> None:
    html = render_html(_document(XSS[case]))
    audit = TagAudit()
    audit.feed(html)
    assert audit.problems == [], audit.problems
    assert "<script" not in html.lower()


@pytest.mark.parametrize("field", ["author", "title"])
def test_html_export_escapes_names_and_titles(field: str) -> None:
    hostile = "<img src=x onerror=alert(1)>\"'><script>alert(2)</script>"
    html = render_html(_document("fine", **{field: hostile}))
    audit = TagAudit()
    audit.feed(html)
    assert audit.problems == []
    assert "<script" not in html.lower()


@pytest.mark.parametrize("case", ["script tag", "javascript link", "iframe"])
def test_markdown_export_has_no_raw_html_or_script_links(case: str) -> None:
    md = render_markdown(_document(XSS[case]))
    assert "<script" not in md.lower() and "<iframe" not in md.lower()
    assert "](javascript:" not in md.lower()


# --------------------------------------------------------------------------- paths

TRAVERSALS = ["../../etc/passwd", "/etc/passwd", "..", "a/../../x", "..\\..\\win.ini", "\x00", "~/.ssh/id_rsa"]


@pytest.mark.parametrize("slug", TRAVERSALS)
def test_export_file_name_from_a_hostile_slug_stays_in_the_directory(slug: str) -> None:
    from bot.models import Review

    review = Review(id=7, source="discord", source_key="k", slug=slug, title="t", url=None, author=None,
                    published_at=None, film_id=None, film_title=None, film_year=None, rating=None, excerpt="",
                    body_md="", image_url=None, tags=(), spoilers=False, content_hash="")  # fmt: skip
    stem = safe_file_stem(review)
    assert "/" not in stem and "\\" not in stem and ".." not in stem and "\x00" not in stem
    assert stem.endswith("-7-comments")


@pytest.mark.parametrize("out", ["../outside.json", "a/../../x.json", "{tmp}/abs/x.json"])
def test_export_out_writes_where_the_operator_asks(tmp_path: Path, out: str) -> None:
    """The operator runs `matinee export`: confining --out to the current directory would protect nothing."""
    from bot.cli.export import resolve_output

    cwd = tmp_path / "cwd"
    for folder in (cwd / "a", tmp_path / "abs"):
        folder.mkdir(parents=True)
    out = out.format(tmp=tmp_path)
    assert resolve_output(out, "x.json", cwd=cwd).resolve() == (cwd / out).resolve()


def test_export_never_replaces_a_file_or_symlink_without_force(tmp_path: Path) -> None:
    from bot.cli.export import resolve_output, write_output
    from bot.errors import UserFacingError

    (tmp_path / "sub").mkdir()
    (tmp_path / "link.json").symlink_to(tmp_path / "elsewhere.json")  # dangling, still "exists" for us
    (tmp_path / "kept.json").write_text("precious")
    for out, reason in (("sub", "is a directory"), ("link.json", "already exists"), ("kept.json", "--force")):
        with pytest.raises(UserFacingError, match=reason):
            resolve_output(out, "x.json", cwd=tmp_path)
    with pytest.raises(UserFacingError, match="already exists"):  # appeared after the check: still not replaced
        write_output(tmp_path / "kept.json", "new")
    assert (tmp_path / "kept.json").read_text() == "precious"
    target = resolve_output("kept.json", "x.json", cwd=tmp_path, force=True)
    write_output(target, "new", force=True)
    assert (tmp_path / "kept.json").read_text() == "new"


def test_reviews_dir_names_and_symlinks_cannot_escape_the_folder(tmp_path: Path) -> None:
    from bot.reviews.markdown import MarkdownScanner

    folder = tmp_path / "reviews"
    folder.mkdir()
    secret = tmp_path / "secret.md"
    secret.write_text("---\ntitle: secret\n---\nnot for you\n")
    review = "---\ntitle: Fine\nfilm: Heat\n---\nBody.\n"
    (folder / "ok.md").write_text(review)
    (folder / "escape.md").symlink_to(secret)  # a symlink leading out of the folder
    (folder / "dir.md").mkdir()  # a directory named like a review
    (folder / ".hidden.md").write_text(review)
    (folder / "..sneaky.md").write_text(review)
    (folder / "a\\..\\b.md").write_text(review)
    keys = sorted(f.key for f in MarkdownScanner(folder).scan())
    assert keys == ["ok.md"]
