"""Reading comment feeds: WordPress RSS, Atom, and whatever a hostile blog serves."""

from __future__ import annotations

import pytest

from bot.bridge.comment_feed import MAX_COMMENT_CHARS, parse_comment_feed
from bot.reviews.feeds import FeedParseError, comments_feed_of, parse_feed

WP = (
    '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Comments on: Heat</title>'
    "<link>https://blog.example/heat/</link>{items}</channel></rss>"
)


def wp_item(n: int, author: str = "Ana", html: str = "<p>Great!</p>", *, guid: str | None = None,
            creator: bool = True) -> str:  # fmt: skip
    return (
        f"<item><title>By: {author}</title><link>https://blog.example/heat/#comment-{n}</link>"
        + (f"<dc:creator><![CDATA[{author}]]></dc:creator>" if creator else "")
        + f"<pubDate>Mon, 0{n} Jan 2025 10:00:00 +0000</pubDate>"
        f'<guid isPermaLink="false">{guid or f"https://blog.example/?p=4#comment-{n}"}</guid>'
        f"<description><![CDATA[excerpt]]></description><content:encoded><![CDATA[{html}]]></content:encoded></item>"
    )


def parse(*items: str) -> list:
    return parse_comment_feed(WP.format(items="".join(items)).encode(), url="https://blog.example/heat/feed/")


def test_a_wordpress_comment_feed_reads_as_keyed_comments_with_their_anchors() -> None:
    first, second = parse(wp_item(2, "Tony", "<p>The <b>pineapple</b> tins</p>"), wp_item(1))
    assert first.key == "https://blog.example/?p=4#comment-2" and first.author == "Tony"
    assert first.content == "The **pineapple** tins"  # the full content:encoded, not the excerpt
    assert first.url == "https://blog.example/heat/#comment-2"
    assert first.published_at == "2025-01-02T10:00:00.000Z"
    assert second.author == "Ana"


def test_the_name_comes_from_the_by_title_without_a_creator_and_is_never_empty() -> None:
    [by_title] = parse(wp_item(1, "Faye", creator=False))
    assert by_title.author == "Faye"
    [nameless] = parse(wp_item(1, "", creator=False))
    assert nameless.author == "A blog reader"


def test_duplicate_guids_still_key_each_comment_apart() -> None:
    comments = parse(wp_item(2, "Tony", "<p>two</p>", guid="same"), wp_item(1, "Ana", "<p>one</p>", guid="same"))
    assert len({c.key for c in comments}) == 2


def test_an_atom_comment_feed_works_too() -> None:
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Comments</title>'
        "<id>urn:c</id><updated>2025-01-01T00:00:00Z</updated><entry><title>By: Bea</title>"
        '<link href="https://blog.example/heat/#c7"/><id>tag:blog,2025:c7</id><updated>2025-01-03T00:00:00Z</updated>'
        '<author><name>Bea</name></author><content type="html"><![CDATA[<p>Lovely</p>]]></content></entry></feed>'
    )
    [bea] = parse_comment_feed(atom.encode())
    assert (bea.key, bea.author, bea.content, bea.url) == ("tag:blog,2025:c7", "Bea", "Lovely", "https://blog.example/heat/#c7")


def test_hostile_html_is_normalised_like_a_reviews() -> None:
    hostile = (
        "<p>@everyone <@&123> <@456></p><script>alert(1)</script><iframe src='https://evil.example'></iframe>"
        '<img src="https://tracker.example/p.gif" width="1" height="1"><form><input name=x></form>'
        '<a href="javascript:alert(2)">click</a> *not bold*'
    )
    [comment] = parse(wp_item(1, "Eve <b>Bold</b> &amp; Co", hostile))
    assert "alert" not in comment.content and "evil.example" not in comment.content
    assert "tracker.example" not in comment.content and "javascript" not in comment.content
    assert "@\u200beveryone" in comment.content and "\\<@&123\\>" in comment.content  # text, never a mention
    assert "\\*not bold\\*" in comment.content  # Markdown typed as text stays text
    assert comment.author == "Eve Bold & Co"  # a name is one plain line


def test_a_giant_comment_is_stored_up_to_a_cap() -> None:
    [giant] = parse(wp_item(1, html="<p>" + "word " * 40_000 + "</p>"))
    assert len(giant.content) <= MAX_COMMENT_CHARS and giant.content.endswith("…")


@pytest.mark.parametrize("body", [b"<html><body><h1>Comments</h1></body></html>", b"", b"oops: 500"])
def test_something_that_is_not_a_feed_is_an_error(body: bytes) -> None:
    with pytest.raises(FeedParseError):
        parse_comment_feed(body, content_type="text/html")


def test_an_entity_attack_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<rss><channel>&b;</channel></rss>"
    )
    with pytest.raises(FeedParseError, match="entit"):
        parse_comment_feed(bomb)


def test_a_post_feed_item_names_its_comment_feed_and_count() -> None:
    feed = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:wfw="http://wellformedweb.org/CommentAPI/" '
        'xmlns:slash="http://purl.org/rss/1.0/modules/slash/"><channel><title>Blog</title>'
        "<link>https://blog.example/</link><item><title>Heat: A Review</title><link>https://blog.example/heat/</link>"
        "<guid>p4</guid><wfw:commentRss>https://blog.example/heat/feed/</wfw:commentRss>"
        "<slash:comments>3</slash:comments></item><item><title>No comments here</title><guid>p5</guid>"
        "<link>https://blog.example/x/</link><wfw:commentRss>javascript:alert(1)</wfw:commentRss></item></channel></rss>"
    )
    heat, other = parse_feed(feed.encode()).entries
    assert (heat.comments_feed, heat.comment_count) == ("https://blog.example/heat/feed/", 3)
    assert (other.comments_feed, other.comment_count) == (None, None)  # only http(s) feeds are followed


def test_an_atom_replies_link_is_a_comment_feed() -> None:
    entry = {"links": [{"rel": "alternate", "href": "https://b/x/"},
                       {"rel": "replies", "type": "application/atom+xml", "href": "/x/feed/atom/"}]}  # fmt: skip
    assert comments_feed_of(entry, "https://b/") == "https://b/x/feed/atom/"
