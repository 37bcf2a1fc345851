"""Export documents and their renderers, with hostile member content."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.cli.export import resolve_output
from bot.discussions.export import (
    build_document,
    render_html,
    render_json,
    render_markdown,
    render_member_html,
    safe_file_stem,
    sanitize_markdown,
)
from bot.errors import UserFacingError
from bot.models import Comment, Review

REVIEW = Review(
    id=3,
    source="markdown",
    source_key="k",
    slug="chungking-express",
    title="Chungking <Express>",
    url="https://blog.example/ck",
    film_title="Chungking Express",
    film_year=1994,
)


def c(mid: int, content: str, *, reply_to: int | None = None, author: str = "Mo", author_id: int = 7, **kw) -> Comment:
    return Comment(
        message_id=mid,
        review_id=3,
        guild_id=1,
        thread_id=9,
        author_id=author_id,
        author_name=author,
        content=content,
        created_at=f"2026-01-0{mid % 9 + 1}T10:00:00.000Z",
        reply_to_id=reply_to,
        **kw,
    )


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict]]:
    parser = Tags()
    parser.feed(html)
    return parser.found


HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg/onload=alert(1)>',
    "[click](javascript:alert(document.cookie))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    'https://ok.example/"onmouseover="alert(1)',
    "**<b>bold</b>** `<code>` ||<i>spoiler</i>||",
    "<a href='javascript:alert(1)'>a</a>",
    "<@123> <@&456> @everyone <#789> <:pop:42> <t:0:R>",
    "```\n</pre><script>x</script>\n```",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_member_html_never_contains_live_markup(text: str) -> None:
    out = render_member_html(text)
    for tag, attrs in tags_of(out):
        assert tag in {"a", "strong", "em", "u", "del", "code", "pre", "span", "br"}, out
        assert set(attrs) <= {"href", "rel", "class"}, out
        if "href" in attrs:
            assert attrs["href"].startswith(("http://", "https://")), out
    assert "javascript:" not in "".join(str(a.get("href", "")) for _, a in tags_of(out)).lower()


def test_member_html_keeps_formatting_and_safe_links() -> None:
    out = render_member_html("**great** film, see [review](https://a.example/x?a=1&b=2) or https://b.example")
    assert "<strong>great</strong>" in out
    assert '<a href="https://a.example/x?a=1&amp;b=2" rel="nofollow ugc noopener noreferrer">review</a>' in out
    assert '<a href="https://b.example" rel="nofollow ugc noopener noreferrer">https://b.example</a>' in out
    assert render_member_html("<@123> @everyone <:pop:42>") == "@member @everyone :pop:"


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_export_has_no_raw_html_or_script_links(text: str) -> None:
    out = sanitize_markdown(text)
    assert "<" not in out and ">" not in out
    assert "](javascript" not in out.lower() and "](data:" not in out.lower()


def test_document_nests_replies_hides_deleted_and_ids() -> None:
    comments = [
        c(10, "top"),
        c(11, "reply", reply_to=10, author="Ada", author_id=8),
        c(12, "reply to reply", reply_to=11),
        c(13, "gone", deleted=True),
        c(14, "reply to a deleted comment", reply_to=13, author="Ada", author_id=8),
        c(15, "ghost", author="Deleted User", author_id=0, reactions={"👍": 3}),
    ]
    doc = build_document(REVIEW, comments, {4: 2, 5: 1}, False, (4.5, 2), generated_at="2026-01-01T00:00:00Z")
    assert doc["comment_count"] == 5 and doc["participant_count"] == 3
    assert [n["id"] for n in doc["comments"]] == ["10", "14", "15"]
    assert doc["comments"][0]["replies"][0]["replies"][0]["content"] == "reply to reply"
    assert doc["rating_summary"]["poll"] == {
        "counts": {"1": 0, "2": 0, "3": 0, "4": 2, "5": 1},
        "votes": 3,
        "average": 4.33,
        "final": False,
    }
    assert doc["rating_summary"]["members"] == {"average": 4.5, "votes": 2}
    text = render_json(doc)
    assert "author_id" not in text and "gone" not in text
    with_ids = build_document(REVIEW, comments, {}, False, with_ids=True)
    assert with_ids["comments"][0]["author_id"] == "7"
    assert with_ids["rating_summary"]["poll"]["average"] is None


def test_renderers_escape_review_fields_and_content() -> None:
    comments = [c(10, HOSTILE[0], author="<b>Mo</b>"), c(11, HOSTILE[3], reply_to=10)]
    doc = build_document(REVIEW, comments, {3: 1}, True)
    html = render_html(doc)
    assert "Chungking &lt;Express&gt;" in html and "&lt;b&gt;Mo&lt;/b&gt;" in html
    assert all(tag != "script" and "onerror" not in attrs for tag, attrs in tags_of(html))
    assert 'class="matinee-replies"' in html
    md = render_markdown(doc)
    assert "Chungking &lt;Express&gt;" in md and "<script>" not in md and "javascript" not in md.lower()
    assert "Average 3.00 / 5 from 1 votes (final)" in md
    assert json.loads(render_json(doc))["review"]["film"] == {"title": "Chungking Express", "year": 1994}


def test_file_names_never_escape(tmp_path: Path) -> None:
    evil = Review(id=5, source="s", source_key="k", slug="../../etc/passwd", title="t")
    assert safe_file_stem(evil) == "etc-passwd-5-comments"
    assert safe_file_stem(Review(id=6, source="s", source_key="k", slug="...", title="t")) == "review-6-comments"
    assert resolve_output(None, "a.json", tmp_path) == tmp_path / "a.json"
    assert resolve_output("-", "a.json", tmp_path) is None
    assert resolve_output("../x.json", "a.json", tmp_path) == tmp_path / "../x.json"  # --out goes where it is asked
    with pytest.raises(UserFacingError, match="already exists; add --force"):
        resolve_output("/etc/passwd", "a.json", tmp_path)
    (tmp_path / "dir").mkdir()
    with pytest.raises(UserFacingError, match="directory"):
        resolve_output("dir", "a.json", tmp_path)


def test_member_html_fuzz_with_hostile_fragments() -> None:
    """Random mixes of hostile fragments and Markdown never yield a tag or attribute we did not add."""
    import random

    pieces = [
        *HOSTILE,
        "**",
        "*",
        "_",
        "||",
        "`",
        "```",
        "[",
        "](",
        ")",
        "<",
        ">",
        '"',
        "'",
        "&",
        "\n",
        "https://a.example/x",
        "javascript:",
        "onerror=",
        " ",
        "text",
    ]
    rng = random.Random(1234)
    for _ in range(400):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        out = render_member_html(text)
        assert "\x00" not in out
        for tag, attrs in tags_of(out):
            assert tag in {"a", "strong", "em", "u", "del", "code", "pre", "span", "br"}, (text, out)
            assert set(attrs) <= {"href", "rel", "class"}, (text, out)
            if "href" in attrs:
                assert attrs["href"].startswith(("http://", "https://")), (text, out)
