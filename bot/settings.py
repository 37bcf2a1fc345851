"""Typed, immutable settings: declared once, read once from the environment and a `.env` file.

This is the only module that reads configuration from ``os.environ``. Everything
else receives a :class:`Settings` instance, which keeps configuration testable and
makes it impossible for a stray ``os.getenv`` to pick up a value nobody validated.

Each setting is declared exactly once, as a field of :class:`Settings` made with
:func:`setting`: its environment variable, type (the annotation), default, parser,
whether it is secret, its one-line help and its group. The loader
(:func:`load_settings`), ``.env.example`` and the README's settings table are all
derived from those fields, so they cannot disagree.

Adding a setting
----------------
1. Add one field to :class:`Settings`, after the others of its :class:`Group`
   (a new group is one ``Group("Title")`` constant beside the others)::

       web_port: int = setting("WEB_PORT", 8080, whole(minimum=1), "port the web server listens on", group=WEB)

   The arguments are the variable (the field is its lower-case name), the default
   (:data:`REQUIRED` for none), the parser (:func:`text`, :func:`path`,
   :func:`whole`, :func:`number`, :func:`flag`, :func:`base_url`, :func:`url_list`,
   :func:`one_of`, or any ``parse(name, raw)`` that raises :class:`SettingsError`
   naming the variable, never the value) and the one-line help. Options:
   ``secret=True`` for a key or token (the value arrives wrapped in
   :class:`Secret` and is redacted from logs), ``example=`` for a sample value in
   ``.env.example``, ``shown_default=`` to describe a ``None`` default in words.
2. Regenerate the two files: ``python -m bot.settings --write``, and commit them.

``tests/test_docs.py`` fails until the files match the declaration;
``python -m bot.settings --check`` tells the same without running the tests.

Where the `.env` file comes from
--------------------------------
``--env-file PATH`` on the command line, else ``$MATINEE_ENV_FILE``, else ``.env``
in the current directory. ``MATINEE_ENV_FILE`` set to ``/dev/null`` (or empty)
means "read no file"; the test suite sets it so that a developer's ``.env`` never
reaches a test or a process a test starts. The environment always wins over the file.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from dotenv import dotenv_values

__all__ = [
    "DEFAULT_ENV_FILE",
    "ENV_FILE_VARIABLE",
    "REQUIRED",
    "Secret",
    "SettingSpec",
    "Settings",
    "SettingsError",
    "default_env_file",
    "load_settings",
    "readme_with_table",
    "render_env_example",
    "render_markdown_table",
    "setting",
    "specs",
]

ENV_EXAMPLE_HINT = "see .env.example"
ENV_FILE_VARIABLE: Final = "MATINEE_ENV_FILE"
DEFAULT_TMDB_API_BASE = "https://api.themoviedb.org/3"
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")

Parser = Callable[[str, str], Any]
"""``parse(variable_name, raw_text) -> value``; raises :class:`SettingsError` naming the variable."""


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


# --- parsers: each turns the raw text of one variable into a value, or names the variable in a SettingsError


def text(name: str, raw: str) -> str:
    return raw.strip()


def path(name: str, raw: str) -> Path:
    return Path(raw)


def whole(*, minimum: int | None = None) -> Parser:
    """A whole number, optionally at least ``minimum``."""

    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise SettingsError(f"{name} must be a whole number; {ENV_EXAMPLE_HINT}") from None
        if minimum is not None and value < minimum:
            raise SettingsError(f"{name} must be at least {minimum}; {ENV_EXAMPLE_HINT}")
        return value

    return parse


def number(*, above: float = 0.0) -> Parser:
    """A number strictly greater than ``above``."""

    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise SettingsError(f"{name} must be a number; {ENV_EXAMPLE_HINT}") from None
        if value <= above:
            raise SettingsError(f"{name} must be greater than {above:g}; {ENV_EXAMPLE_HINT}")
        return value

    return parse


def flag(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false; {ENV_EXAMPLE_HINT}")


def _check_url(name: str, value: str, schemes: tuple[str, ...]) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in schemes or not rest:
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise SettingsError(f"{name} must be a URL starting with {allowed}; {ENV_EXAMPLE_HINT}")
    return value


def base_url(*schemes: str) -> Parser:
    """A base URL (``http(s)://`` unless other schemes are named), without its trailing slash
    so that paths can be appended cleanly."""
    allowed = schemes or ("http", "https")
    return lambda name, raw: _check_url(name, raw.strip().rstrip("/"), allowed)


def url_list(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated ``http(s)`` addresses, kept as given: ".../feed/" and ".../feed" may differ."""
    return tuple(_check_url(name, part.strip(), ("http", "https")) for part in raw.split(",") if part.strip())


def one_of(choices: Sequence[str]) -> Parser:
    """One of ``choices``, case-insensitively; the value is upper-cased."""

    def parse(name: str, raw: str) -> str:
        value = raw.strip().upper()
        if value not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}; {ENV_EXAMPLE_HINT}")
        return value

    return parse


def port(name: str, raw: str) -> int:
    """A TCP port; 0 means "do not listen"."""
    value = whole(minimum=0)(name, raw)
    if value > 65535:
        raise SettingsError(f"{name} must be a port number from 0 (off) to 65535; {ENV_EXAMPLE_HINT}")
    return value


def listen_host(name: str, raw: str) -> str:
    """An address or host name to listen on."""
    value = raw.strip()
    if not value or any(ch in value for ch in " /\\\t"):
        raise SettingsError(f"{name} must be an address or host name to listen on, e.g. 127.0.0.1; {ENV_EXAMPLE_HINT}")
    return value


def origin_list(name: str, raw: str) -> tuple[str, ...]:
    """Blog origins (``scheme://host[:port]``, no path) allowed to read the API from a browser, or ``*`` for any."""
    origins: list[str] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if part == "*":
            origins.append(part)
            continue
        value = _check_url(name, part.rstrip("/"), ("http", "https"))
        if "/" in value.partition("://")[2]:
            raise SettingsError(f"{name} takes origins like https://blog.example, without a path; {ENV_EXAMPLE_HINT}")
        origins.append(value.lower())
    return tuple(dict.fromkeys(origins))


def network_list(name: str, raw: str) -> tuple[str, ...]:
    """IP addresses or networks (CIDR), e.g. the reverse proxies whose ``X-Forwarded-For`` is believed."""
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


# --- the declaration


@dataclass(frozen=True, slots=True)
class Group:
    """A heading in ``.env.example``: settings that belong together."""

    title: str


DISCORD = Group("Discord")
STORAGE = Group("Storage")
LLM = Group("LLM chat (optional): any OpenAI-compatible endpoint, such as OpenAI, Ollama or vLLM")
TMDB = Group("TMDB film data (optional; without it films come from the local catalog)")
REVIEWS = Group("Reviews")
CHAT = Group("Chat guards")
WEB = Group(
    "The web server (read API, live updates, the comments widget), in the bot's process; "
    "`matinee web` serves the same without the bot"
)
DEVELOPMENT = Group("Development and logs")


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """Everything Matinee knows about one setting besides its field name, type and default."""

    env: str
    parse: Parser
    help: str
    group: Group
    secret: bool = False
    required: bool = False
    example: str | None = None
    shown_default: str | None = None


_SPEC: Final = "matinee.setting"
REQUIRED: Final[Any] = MISSING
"""The default of a setting that has none: constructing :class:`Settings` needs it, and loading fails without it."""


def setting(
    env: str,
    default: Any,
    parse: Parser = text,
    help: str = "",
    *,
    group: Group,
    secret: bool = False,
    example: str | None = None,
    shown_default: str | None = None,
) -> Any:
    """Declare one setting as a :class:`Settings` field (a ``dataclasses.field`` carrying a :class:`SettingSpec`)."""
    if not help or "\n" in help:
        raise ValueError(f"{env} needs a one-line help text")
    spec = SettingSpec(env, parse, help, group, secret, default is REQUIRED, example, shown_default)
    if default is REQUIRED:
        return field(metadata={_SPEC: spec})
    return field(default=default, metadata={_SPEC: spec})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything Matinee can be configured with, one field per environment variable."""

    discord_token: Secret | None = setting(
        "DISCORD_TOKEN", REQUIRED, text, secret=True, group=DISCORD,
        help="the bot token (https://discord.com/developers/applications → your app → Bot → Reset Token)",
    )  # fmt: skip
    discord_api_base: str | None = setting(
        "DISCORD_API_BASE", None, base_url(), group=DISCORD, shown_default="Discord's",
        example="https://discord.com/api/v10",
        help="REST base URL, e.g. a rate-limit proxy (the tests point it at a loopback double)",
    )  # fmt: skip
    discord_gateway_url: str | None = setting(
        "DISCORD_GATEWAY_URL", None, base_url("ws", "wss"), group=DISCORD, shown_default="Discord's",
        example="wss://gateway.discord.gg", help="gateway URL (`ws://` or `wss://`)",
    )  # fmt: skip
    database_path: Path = setting(
        "DATABASE_PATH", Path("data/matinee.db"), path, group=STORAGE,
        help="the SQLite database, created on first start (git-ignored)",
    )  # fmt: skip
    openai_api_key: Secret | None = setting(
        "OPENAI_API_KEY", None, text, secret=True, group=LLM, example="sk-...",
        help="LLM key; any placeholder works for Ollama (the client requires one)",
    )  # fmt: skip
    openai_base_url: str | None = setting(
        "OPENAI_BASE_URL", None, base_url(), group=LLM, shown_default="OpenAI's",
        example="http://localhost:11434/v1", help="any OpenAI-compatible endpoint (Ollama, vLLM, …)",
    )  # fmt: skip
    openai_model: str = setting("OPENAI_MODEL", "gpt-4o-mini", text, "chat model", group=LLM)
    openai_timeout_seconds: float = setting(
        "OPENAI_TIMEOUT_SECONDS", 30.0, number(), "per-request timeout", group=LLM
    )
    openai_max_retries: int = setting(
        "OPENAI_MAX_RETRIES", 2, whole(minimum=0), "retries for 429, 5xx and connection errors", group=LLM
    )
    openai_moderation: bool = setting(
        "OPENAI_MODERATION", False, flag, "run the moderation endpoint on chat input", group=LLM
    )
    tmdb_api_key: Secret | None = setting(
        "TMDB_API_KEY", None, text, secret=True, group=TMDB,
        help="TMDB v3 key; without it films come from the local catalog",
    )  # fmt: skip
    tmdb_api_base: str = setting("TMDB_API_BASE", DEFAULT_TMDB_API_BASE, base_url(), "TMDB base URL", group=TMDB)
    tmdb_cache_ttl_hours: int = setting(
        "TMDB_CACHE_TTL_HOURS", 168, whole(minimum=1), "how long TMDB answers are cached in the catalog", group=TMDB
    )
    tmdb_requests_per_second: float = setting(
        "TMDB_REQUESTS_PER_SECOND", 20.0, number(), "client-side TMDB rate limit", group=TMDB
    )
    review_feeds: tuple[str, ...] = setting(
        "REVIEW_FEEDS", (), url_list, group=REVIEWS,
        example="https://blog.example.com/feed/,https://blog.example.com/atom.xml",
        help="comma-separated feed URLs every configured guild receives",
    )  # fmt: skip
    reviews_dir: Path | None = setting(
        "REVIEWS_DIR", None, path, group=REVIEWS, example="/srv/blog/content/reviews",
        help="folder of Markdown reviews with front matter (a Hugo or Jekyll blog's posts); unset or empty: none",
    )  # fmt: skip
    feed_poll_seconds: int = setting(
        "FEED_POLL_SECONDS", 300, whole(minimum=10), "feed poll interval (with jitter)", group=REVIEWS
    )
    feed_allow_private_networks: bool = setting(
        "FEED_ALLOW_PRIVATE_NETWORKS", False, flag, group=REVIEWS,
        help="follow feeds on private networks (loopback, RFC 1918, link-local); off so that a server "
        "admin cannot make the bot probe the network it runs in",
    )  # fmt: skip
    chat_allow_dms: bool = setting("CHAT_ALLOW_DMS", True, flag, "answer direct messages", group=CHAT)
    chat_requests_per_minute: int = setting(
        "CHAT_REQUESTS_PER_MINUTE", 5, whole(minimum=1), "per-member chat rate limit", group=CHAT
    )
    chat_daily_token_budget: int = setting(
        "CHAT_DAILY_TOKEN_BUDGET", 200_000, whole(minimum=1), "per-guild daily token budget", group=CHAT
    )
    chat_context_tokens: int = setting(
        "CHAT_CONTEXT_TOKENS", 6_000, whole(minimum=256), "prompt token budget", group=CHAT
    )
    web_host: str = setting(
        "WEB_HOST", "127.0.0.1", listen_host, "address the web server listens on (0.0.0.0 in a container)",
        group=WEB,
    )  # fmt: skip
    web_port: int = setting("WEB_PORT", 8780, port, "port the web server listens on; 0 turns it off", group=WEB)
    public_url: str | None = setting(
        "PUBLIC_URL", None, base_url(), group=WEB, shown_default="http://WEB_HOST:WEB_PORT",
        example="https://comments.blog.example",
        help="the address blog readers reach the web server at (behind nginx or Caddy: the https:// one)",
    )  # fmt: skip
    web_allowed_origins: tuple[str, ...] = setting(
        "WEB_ALLOWED_ORIGINS", (), origin_list, group=WEB, example="https://blog.example",
        help="blog origins whose pages may read the API from a browser (comma-separated), or `*` for any",
    )  # fmt: skip
    web_trusted_proxies: tuple[str, ...] = setting(
        "WEB_TRUSTED_PROXIES", (), network_list, group=WEB, example="127.0.0.1",
        help="reverse proxies (addresses or networks) whose X-Forwarded-For is believed",
    )  # fmt: skip
    dev_guild_id: int | None = setting(
        "DEV_GUILD_ID", None, whole(minimum=1), "sync commands to this guild instantly", group=DEVELOPMENT
    )
    log_level: str = setting(
        "LOG_LEVEL", "INFO", one_of(LOG_LEVELS), "log level: `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`",
        group=DEVELOPMENT,
    )

    @property
    def web_enabled(self) -> bool:
        """The HTTP server (read API, widget) runs unless WEB_PORT is 0."""
        return self.web_port != 0

    @property
    def public_address(self) -> str:
        """Where blog readers reach the web server: ``PUBLIC_URL``, else the address it listens on."""
        return self.public_url or f"http://{self.web_host}:{self.web_port or 8780}"

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


def specs() -> list[tuple[str, SettingSpec, Any]]:
    """``(field name, spec, default)`` for every setting, in declaration order (``REQUIRED`` has no default)."""
    return [(f.name, f.metadata[_SPEC], f.default) for f in fields(Settings)]


# --- loading


def default_env_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The settings file to read when none is named on the command line.

    ``$MATINEE_ENV_FILE`` (looked up in ``environ``, then in the process
    environment), else ``.env`` in the current directory. ``/dev/null`` or an
    empty value means no file: that is how tests, and every process they start,
    are kept away from a developer's ``.env``.
    """
    named = (environ or {}).get(ENV_FILE_VARIABLE, os.environ.get(ENV_FILE_VARIABLE))
    if named is None:
        return Path(".env")
    if named.strip() in ("", os.devnull):
        return None
    return Path(named)


class _DefaultEnvFile:
    """Marker for "no file named": :func:`default_env_file` decides."""

    def __repr__(self) -> str:
        return "DEFAULT_ENV_FILE"


DEFAULT_ENV_FILE: Final = _DefaultEnvFile()


def _read_env(env_file: Path | None, environ: Mapping[str, str]) -> dict[str, str]:
    """Merge the file under the environment (the environment wins, as in dotenv)."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(environ)
    return merged


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    env_file: Path | _DefaultEnvFile | None = DEFAULT_ENV_FILE,
    require_token: bool = True,
) -> Settings:
    """Build and validate :class:`Settings` from ``environ`` (default ``os.environ``) over ``env_file``.

    ``env_file=None`` reads no file; by default :func:`default_env_file` picks one.
    ``require_token=False`` is for ``matinee doctor``, which must be able to run
    on a machine that has not been configured yet and report what is missing:
    required settings that are unset then come back as ``None``.
    Raises :class:`SettingsError` with one line naming the offending variable.
    """
    source = os.environ if environ is None else environ
    if isinstance(env_file, _DefaultEnvFile):
        env_file = default_env_file(source)
    env = _read_env(env_file, source)
    values: dict[str, Any] = {}
    for name, spec, _default in specs():
        raw = env.get(spec.env)
        if raw is None or raw.strip() == "":
            if spec.required:
                if require_token:
                    raise SettingsError(f"{spec.env} is not set; {ENV_EXAMPLE_HINT}")
                values[name] = None
            continue  # the declared default
        value = spec.parse(spec.env, raw)
        values[name] = Secret(value) if spec.secret else value
    return Settings(**values)


# --- documentation rendered from the declaration

ENV_EXAMPLE_PATH = ".env.example"
README_PATH = "README.md"
README_START = "<!-- settings-table: generated by `python -m bot.settings --write`; edit bot/settings.py -->"
README_END = "<!-- /settings-table -->"


def _as_env_text(value: Any) -> str:
    """A default as it would be written in ``.env``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return "" if value is None else str(value)


def render_env_example() -> str:
    """The whole ``.env.example``: each setting's help, then its line (commented out unless required)."""
    lines = [
        "# Matinee settings. Copy to .env and fill in. Only DISCORD_TOKEN is required.",
        "# The environment wins over this file. Generated from bot/settings.py by",
        "# `python -m bot.settings --write`: edit the declaration there, not this file.",
    ]
    group: Group | None = None
    for _name, spec, default in specs():
        if spec.group != group:
            group = spec.group
            lines += ["", f"# --- {group.title} ---"]
        comment = spec.help.replace("`", "")
        lines.append(f"# {comment[:1].upper()}{comment[1:]}")
        if spec.required:
            lines.append(f"{spec.env}=")
        else:
            lines.append(f"# {spec.env}={spec.example if spec.example is not None else _as_env_text(default)}")
    return "\n".join(lines) + "\n"


def render_markdown_table() -> str:
    """The README's settings table: variable, default, role."""
    rows = ["| variable | default | role |", "|---|---|---|"]
    for _name, spec, default in specs():
        if spec.required:
            shown = "— (required)"
        elif spec.shown_default is not None:
            shown = spec.shown_default
        else:
            as_text = _as_env_text(default)
            shown = f"`{as_text}`" if as_text else "—"
        role = spec.help.replace("|", r"\|")
        rows.append(f"| `{spec.env}` | {shown} | {role} |")
    return "\n".join(rows) + "\n"


def readme_with_table(readme: str) -> str:
    """``readme`` with the text between the settings-table markers replaced by the rendered table."""
    before, start, rest = readme.partition(README_START)
    _old, end, after = rest.partition(README_END)
    if not start or not end:
        raise ValueError(f"{README_PATH} lacks the settings-table markers")
    return f"{before}{README_START}\n{render_markdown_table()}{README_END}{after}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.settings", description="Render the settings declaration as documentation."
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--env-example", action="store_true", help="print .env.example")
    action.add_argument("--markdown-table", action="store_true", help="print the README's settings table")
    action.add_argument("--write", action="store_true", help="rewrite .env.example and the README table")
    action.add_argument("--check", action="store_true", help="exit 1 if either file differs from the declaration")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="the checkout")
    args = parser.parse_args(argv)
    if args.env_example:
        sys.stdout.write(render_env_example())
        return 0
    if args.markdown_table:
        sys.stdout.write(render_markdown_table())
        return 0
    env_example, readme = args.root / ENV_EXAMPLE_PATH, args.root / README_PATH
    wanted = {env_example: render_env_example(), readme: readme_with_table(readme.read_text(encoding="utf-8"))}
    stale = [p for p, content in wanted.items() if not p.is_file() or p.read_text(encoding="utf-8") != content]
    if args.check:
        for p in stale:
            print(f"{p} differs from bot/settings.py; run: python -m bot.settings --write", file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.write_text(wanted[p], encoding="utf-8")
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
