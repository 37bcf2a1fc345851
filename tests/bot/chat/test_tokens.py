"""Token counting: tiktoken when it loads offline, a chars/4 estimate otherwise, never a hang."""

from __future__ import annotations

import threading

from bot.chat.tokens import TokenCounter, estimate_tokens


def test_estimate_is_about_four_chars_per_token() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2


def test_failed_download_falls_back_to_the_estimate() -> None:
    def offline(name: str):
        raise ConnectionError("no internet")

    counter = TokenCounter(loader=offline)
    assert counter.wait_loaded() is False
    assert counter.count("x" * 40) == 10


def test_hanging_download_does_not_block_counting() -> None:
    release = threading.Event()

    def hang(name: str):
        release.wait(5)
        raise ConnectionError("gave up")

    counter = TokenCounter(loader=hang, timeout=0.05)
    assert counter.wait_loaded() is False  # returns after the short deadline
    assert counter.count("x" * 8) == 2
    release.set()


def test_loaded_encoding_is_used() -> None:
    class Words:
        def encode(self, text: str, disallowed_special=()):
            return text.split()

    counter = TokenCounter(loader=lambda name: Words())
    assert counter.wait_loaded() is True
    assert counter.count("one two three") == 3
    assert counter.count_message("one") > 1


def test_the_real_loader_never_downloads(tmp_path, monkeypatch) -> None:
    """With an empty tiktoken cache, the default loader fails fast instead of reaching the internet."""
    import requests

    from bot.chat.tokens import TokenCounter as RealCounter

    attempts: list[str] = []

    def no_network(url, *args, **kwargs):
        attempts.append(url)
        raise AssertionError("tiktoken tried to download an encoding")

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(requests, "get", no_network)
    counter = RealCounter("o200k_base", timeout=10)
    assert counter.wait_loaded() is False
    assert attempts == []
    assert counter.count("a" * 40) == 10
