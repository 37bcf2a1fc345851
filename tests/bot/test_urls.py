"""Post-URL normalisation: every way a blog post's address is written finds the same key."""

from __future__ import annotations

import pytest

from bot.urls import normalize_post_url

KEY = "blog.example/2026/11/24/chungking-express"


@pytest.mark.parametrize(
    "url",
    [
        "https://blog.example/2026/11/24/chungking-express/",
        "http://blog.example/2026/11/24/chungking-express",
        "https://www.blog.example/2026/11/24/chungking-express/",
        "https://BLOG.Example/2026/11/24/chungking-express/#comments",
        "https://blog.example:443/2026/11/24/chungking-express/?utm_source=newsletter&utm_medium=email",
        "https://blog.example/2026/11/24/chungking-express/?fbclid=abc&gclid=def&mc_cid=x&_ga=1",
        "  https://blog.example/2026/11/24/%63hungking-express/  ",
    ],
)
def test_equivalent_addresses_share_one_key(url: str) -> None:
    assert normalize_post_url(url) == KEY


def test_what_identifies_a_post_is_kept() -> None:
    assert normalize_post_url("https://blog.example/?p=412") == "blog.example?p=412"
    assert normalize_post_url("https://blog.example/?p=412&utm_source=x") == "blog.example?p=412"
    assert normalize_post_url("https://blog.example/?b=2&a=1") == normalize_post_url("https://blog.example/?a=1&b=2")
    assert normalize_post_url("https://blog.example:8443/post/") == "blog.example:8443/post"
    assert normalize_post_url("https://blog.example/a") != normalize_post_url("https://blog.example/b")
    assert normalize_post_url("https://www2.blog.example/a") == "www2.blog.example/a"
    assert normalize_post_url("https://bücher.example/rezension/") == "xn--bcher-kva.example/rezension"
    assert normalize_post_url("https://blog.example/caf%C3%A9/") == normalize_post_url("https://blog.example/café")


@pytest.mark.parametrize(
    "url",
    [None, "", "blog.example/post", "javascript:alert(1)", "ftp://blog.example/x", "https://", "https:///path",
     "https://blog.example/a\r\nb", "https://" + "a" * 3000 + ".example/", "https://[::1/", "https://a b.example/"],
)  # fmt: skip
def test_anything_that_is_not_a_post_address_is_none(url: str | None) -> None:
    assert normalize_post_url(url) is None
