"""Typed, immutable settings, read once from the environment and `.env`.

This is the only module that reads ``os.environ``. Everything else receives a
:class:`Settings` instance, which keeps configuration testable and makes it
impossible for a stray ``os.getenv`` to pick up a value nobody validated.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values

__all__ = ["Secret", "Settings", "SettingsError", "load_settings"]

ENV_EXAMPLE_HINT = "see .env.example"
DEFAULT_TMDB_API_BASE = "https://api.themoviedb.org/3"
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the variable, never its value."""


class Secret:
    """A string that refuses to show itself in ``repr()``, ``str()`` or f-strings.

    Tokens end up in tracebacks and debug logs through innocent ``repr`` calls;
    wrapping them makes the safe thing the default and the unsafe thing explicit
    (:meth:`reveal`).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the real value; call this only where the secret is actually sent."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything Matinee can be configured with. See the README's settings table."""

    discord_token: Secret | None
    database_path: Path = Path("data/matinee.db")
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    openai_api_key: Secret | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout_seconds: float = 30.0
    openai_max_retries: int = 2
    openai_moderation: bool = False
    tmdb_api_key: Secret | None = None
    tmdb_api_base: str = DEFAULT_TMDB_API_BASE
    tmdb_cache_ttl_hours: int = 168
    tmdb_requests_per_second: float = 20.0
    review_feeds: tuple[str, ...] = ()
    reviews_dir: Path = Path("data/reviews")
    feed_poll_seconds: int = 300
    feed_allow_private_networks: bool = False
    dev_guild_id: int | None = None
    log_level: str = "INFO"
    chat_allow_dms: bool = True
    chat_requests_per_minute: int = 5
    chat_daily_token_budget: int = 200_000
    chat_context_tokens: int = 6_000
    web_host: str = "127.0.0.1"
    web_port: int = 8780
    public_url: str = "http://127.0.0.1:8780"
    web_allowed_origins: tuple[str, ...] = ()
    web_trusted_proxies: tuple[str, ...] = ()

    @property
    def web_enabled(self) -> bool:
        """The HTTP server (read API, widget) runs unless WEB_PORT is 0."""
        return self.web_port != 0

    @property
    def llm_configured(self) -> bool:
        """The LLM is optional: it is on when a base URL or an API key is given."""
        return bool(self.openai_api_key) or bool(self.openai_base_url)

    @property
    def tmdb_configured(self) -> bool:
        return bool(self.tmdb_api_key)

    def secrets(self) -> list[str]:
        """Every secret value, so the log filter can redact them wherever they appear."""
        values: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret) and value.reveal():
                values.append(value.reveal())
        return values


def _parse_int(name: str, raw: str, *, minimum: int | None = None) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a whole number; {ENV_EXAMPLE_HINT}") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}; {ENV_EXAMPLE_HINT}")
    return value


def _parse_float(name: str, raw: str, *, minimum: float = 0.0) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a number; {ENV_EXAMPLE_HINT}") from None
    if value <= minimum:
        raise SettingsError(f"{name} must be greater than {minimum:g}; {ENV_EXAMPLE_HINT}")
    return value


def _parse_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false; {ENV_EXAMPLE_HINT}")


def _parse_url(name: str, raw: str, schemes: tuple[str, ...] = ("http", "https"), *, strip_slash: bool = True) -> str:
    """Validate a URL; base URLs lose a trailing slash so paths can be appended cleanly."""
    value = raw.strip().rstrip("/") if strip_slash else raw.strip()
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in schemes or not rest:
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise SettingsError(f"{name} must be a URL starting with {allowed}; {ENV_EXAMPLE_HINT}")
    return value


def _parse_feeds(name: str, raw: str) -> tuple[str, ...]:
    # Feed URLs are addresses, not bases: ".../feed/" and ".../feed" may differ, so keep them as given.
    return tuple(_parse_url(name, part, strip_slash=False) for part in raw.split(",") if part.strip())


def _parse_log_level(name: str, raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"{name} must be one of {', '.join(LOG_LEVELS)}; {ENV_EXAMPLE_HINT}")
    return level


def _parse_port(name: str, raw: str) -> int:
    value = _parse_int(name, raw, minimum=0)
    if value > 65535:
        raise SettingsError(f"{name} must be a port number from 0 (off) to 65535; {ENV_EXAMPLE_HINT}")
    return value


def _parse_host(name: str, raw: str) -> str:
    value = raw.strip()
    if not value or any(ch in value for ch in " /\\\t"):
        raise SettingsError(f"{name} must be an address or host name to listen on, e.g. 127.0.0.1; {ENV_EXAMPLE_HINT}")
    return value


def _parse_origins(name: str, raw: str) -> tuple[str, ...]:
    """Blog origins (scheme://host[:port]) allowed to read the API from a browser, or * for any."""
    origins: list[str] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if part == "*":
            origins.append(part)
            continue
        value = _parse_url(name, part)
        if "/" in value.partition("://")[2]:
            raise SettingsError(f"{name} takes origins like https://blog.example, without a path; {ENV_EXAMPLE_HINT}")
        origins.append(value.lower())
    return tuple(dict.fromkeys(origins))


def _parse_networks(name: str, raw: str) -> tuple[str, ...]:
    """Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is believed."""
    import ipaddress

    networks: list[str] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise SettingsError(
                f"{name} must list IP addresses or networks such as 10.0.0.0/8; {ENV_EXAMPLE_HINT}"
            ) from None
    return tuple(networks)


def _read_env(env_file: Path | None, environ: Mapping[str, str] | None) -> dict[str, str]:
    """Merge `.env` under the real environment (the environment wins, as in dotenv)."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return merged


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    env_file: Path | None = Path(".env"),
    require_token: bool = True,
) -> Settings:
    """Build and validate :class:`Settings`.

    ``require_token=False`` is for ``matinee doctor``, which must be able to run
    on a machine that has not been configured yet and report what is missing.
    Raises :class:`SettingsError` with one line naming the offending variable.
    """
    env = _read_env(env_file, environ)

    def get(name: str) -> str | None:
        value = env.get(name)
        return value if value is not None and value.strip() != "" else None

    def opt(name: str, parse: Callable[[str, str], T], default: T) -> T:
        raw = get(name)
        return default if raw is None else parse(name, raw)

    token = get("DISCORD_TOKEN")
    if token is None and require_token:
        raise SettingsError(f"DISCORD_TOKEN is not set; {ENV_EXAMPLE_HINT}")

    def secret(name: str) -> Secret | None:
        raw = get(name)
        return Secret(raw.strip()) if raw else None

    def positive_int(minimum: int) -> Callable[[str, str], int]:
        return lambda n, r: _parse_int(n, r, minimum=minimum)

    values: dict[str, Any] = {
        "discord_token": Secret(token.strip()) if token else None,
        "discord_api_base": opt("DISCORD_API_BASE", _parse_url, None),
        "discord_gateway_url": opt("DISCORD_GATEWAY_URL", lambda n, r: _parse_url(n, r, ("ws", "wss")), None),
        "database_path": Path(get("DATABASE_PATH") or "data/matinee.db"),
        "openai_api_key": secret("OPENAI_API_KEY"),
        "openai_base_url": opt("OPENAI_BASE_URL", _parse_url, None),
        "openai_model": (get("OPENAI_MODEL") or "gpt-4o-mini").strip(),
        "openai_timeout_seconds": opt("OPENAI_TIMEOUT_SECONDS", _parse_float, 30.0),
        "openai_max_retries": opt("OPENAI_MAX_RETRIES", positive_int(0), 2),
        "openai_moderation": opt("OPENAI_MODERATION", _parse_bool, False),
        "tmdb_api_key": secret("TMDB_API_KEY"),
        "tmdb_api_base": opt("TMDB_API_BASE", _parse_url, DEFAULT_TMDB_API_BASE),
        "tmdb_cache_ttl_hours": opt("TMDB_CACHE_TTL_HOURS", positive_int(1), 168),
        "tmdb_requests_per_second": opt("TMDB_REQUESTS_PER_SECOND", _parse_float, 20.0),
        "review_feeds": opt("REVIEW_FEEDS", _parse_feeds, ()),
        "reviews_dir": Path(get("REVIEWS_DIR") or "data/reviews"),
        "feed_poll_seconds": opt("FEED_POLL_SECONDS", positive_int(10), 300),
        "feed_allow_private_networks": opt("FEED_ALLOW_PRIVATE_NETWORKS", _parse_bool, False),
        "dev_guild_id": opt("DEV_GUILD_ID", positive_int(1), None),
        "log_level": opt("LOG_LEVEL", _parse_log_level, "INFO"),
        "chat_allow_dms": opt("CHAT_ALLOW_DMS", _parse_bool, True),
        "chat_requests_per_minute": opt("CHAT_REQUESTS_PER_MINUTE", positive_int(1), 5),
        "chat_daily_token_budget": opt("CHAT_DAILY_TOKEN_BUDGET", positive_int(1), 200_000),
        "chat_context_tokens": opt("CHAT_CONTEXT_TOKENS", positive_int(256), 6_000),
        "web_host": opt("WEB_HOST", _parse_host, "127.0.0.1"),
        "web_port": opt("WEB_PORT", _parse_port, 8780),
        "web_allowed_origins": opt("WEB_ALLOWED_ORIGINS", _parse_origins, ()),
        "web_trusted_proxies": opt("WEB_TRUSTED_PROXIES", _parse_networks, ()),
    }
    # Unset, the public address is where the server listens (what a local test page reaches).
    default_public = f"http://{values['web_host']}:{values['web_port'] or 8780}"
    values["public_url"] = opt("PUBLIC_URL", _parse_url, default_public)
    return Settings(**values)
