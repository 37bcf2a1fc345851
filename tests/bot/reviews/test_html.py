"""HTML to Discord Markdown: what carries over, what is dropped, what is escaped."""

from __future__ import annotations

import pytest

from bot.reviews.html import html_to_markdown, is_tracking_pixel, safe_url


def md(html: str, base: str | None = "https://blog.example/post/") -> str:
    return html_to_markdown(html, base).markdown


def test_paragraphs_emphasis_and_links() -> None:
    assert md("<p>One <b>bold</b> and <i>it</i></p><p>Two<br>lines</p>") == "One **bold** and *it*\n\nTwo\nlines"
    assert md('<p><a href="/heat/">Heat</a> and <a href="https://x.example/a(b)">paren</a></p>') == (
        "[Heat](https://blog.example/heat/) and [paren](https://x.example/a%28b%29)"
    )
    assert md("<p><u>u</u> <s>s</s> <code>x*y</code></p>") == "__u__ ~~s~~ `x\\*y`"


def test_lists_nested_and_ordered() -> None:
    assert md("<ul><li>a</li><li>b<ol><li>c</li><li>d</li></ol></li></ul>") == "- a\n- b\n  1. c\n  2. d"


def test_blockquotes_and_headings() -> None:
    assert md("<h2>Verdict</h2><blockquote><p>Quoted line</p></blockquote><p>After</p>") == (
        "**Verdict**\n\n> Quoted line\n\nAfter"
    )


@pytest.mark.parametrize("tag", ["script", "style", "iframe", "noscript", "object", "svg", "form", "template"])
def test_dangerous_and_invisible_elements_are_removed(tag: str) -> None:
    assert md(f"<p>keep</p><{tag}>secret <b>payload</b></{tag}><p>also</p>") == "keep\n\nalso"


def test_javascript_and_data_links_lose_the_link_but_keep_the_text() -> None:
    assert md('<a href="javascript:alert(1)">click</a> <a href="data:text/html,x">data</a>') == "click data"
    assert md('<a href="JaVaScRiPt:alert(1)">x</a>') == "x"


def test_first_real_image_becomes_the_embed_image_and_pixels_are_ignored() -> None:
    doc = html_to_markdown(
        '<img src="https://stats.wordpress.com/b.gif?x=1"><img src="/1x1.gif" width="1" height="1">'
        '<img src="data:image/png;base64,AAAA"><img src="/poster.jpg" alt="Poster"><img src="/second.jpg">',
        "https://blog.example/post/",
    )
    assert doc.image_url == "https://blog.example/poster.jpg"
    assert doc.markdown == ""  # images never leak into the text


def test_markdown_characters_and_mentions_in_text_are_neutralised() -> None:
    out = md("<p>*not bold* _nor_ ~~this~~ `code` @everyone <@123> ||spoiler||</p>")
    assert "\\*not bold\\*" in out and "\\_nor\\_" in out and "\\|\\|spoiler\\|\\|" in out
    assert "@\u200beveryone" in out and "<@123>" not in out


def test_line_start_syntax_in_text_is_escaped() -> None:
    assert md("<p># not a heading</p>").startswith("\\#")
    assert md("<p>&gt; not a quote</p>").startswith("\\>")


def test_garbage_and_unclosed_tags_do_not_crash() -> None:
    assert "text" in md("<p><b>text<i>more</p></div></span><<<>>>")
    assert md("") == "" and md("<p></p><div> </div>") == ""


def test_tracking_pixel_heuristics_and_safe_url() -> None:
    assert is_tracking_pixel("https://x/a.png", {"width": "1", "height": "1"})
    assert is_tracking_pixel("https://feeds.feedburner.com/~r/x", {})
    assert not is_tracking_pixel("https://x/poster.jpg", {"width": "800"})
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("//cdn.example/a.jpg", "https://blog.example/") == "https://cdn.example/a.jpg"
    assert safe_url("mailto:a@b.c") is None and safe_url("mailto:a@b.c", allow_mailto=True) == "mailto:a@b.c"
