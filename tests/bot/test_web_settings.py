"""The web server's settings: defaults, port 0 meaning off, origins, trusted proxies, clear errors."""

from __future__ import annotations

import pytest

from bot.settings import SettingsError, load_settings


def load(**env: str):
    return load_settings({"DISCORD_TOKEN": "x", **env}, env_file=None)


def test_defaults_serve_on_loopback() -> None:
    settings = load()
    assert (settings.web_host, settings.web_port, settings.public_address) == ("127.0.0.1", 8780, "http://127.0.0.1:8780")
    assert settings.web_enabled and settings.web_allowed_origins == () and settings.web_trusted_proxies == ()


def test_port_zero_turns_the_server_off_and_the_public_address_follows_the_listening_one() -> None:
    assert not load(WEB_PORT="0").web_enabled
    assert load(WEB_HOST="0.0.0.0", WEB_PORT="9000").public_address == "http://0.0.0.0:9000"
    assert load(PUBLIC_URL="https://comments.blog.example/").public_address == "https://comments.blog.example"


def test_origins_and_proxies_are_parsed() -> None:
    settings = load(
        WEB_ALLOWED_ORIGINS="https://Blog.example, https://www.blog.example/ ,https://blog.example",
        WEB_TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8, ::1",
    )
    assert settings.web_allowed_origins == ("https://blog.example", "https://www.blog.example")
    assert settings.web_trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    assert load(WEB_ALLOWED_ORIGINS="*").web_allowed_origins == ("*",)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEB_PORT", "70000"),
        ("WEB_PORT", "-1"),
        ("WEB_PORT", "http"),
        ("WEB_HOST", "a b"),
        ("PUBLIC_URL", "blog.example"),
        ("WEB_ALLOWED_ORIGINS", "https://blog.example/comments"),
        ("WEB_ALLOWED_ORIGINS", "blog.example"),
        ("WEB_TRUSTED_PROXIES", "proxy.local"),
    ],
)
def test_invalid_values_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load(**{name: value})
    assert name in str(excinfo.value) and value not in str(excinfo.value).replace(name, "")
