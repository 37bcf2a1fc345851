"""Preflight checks behind ``matinee doctor`` (the command is :mod:`bot.cli.doctor`), and the invite URL.

Doctor must be useful on a machine nobody has configured yet: it never needs a
token, never needs the network to *finish*, and reports every problem it finds
instead of stopping at the first.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import discord

from .outbound import OutboundHttp, Purpose, private_address_refusal
from .permissions import REQUIRED_PERMISSIONS
from .settings import Settings
from .storage import load_migrations

__all__ = ["CheckResult", "invite_permissions", "invite_url", "run_checks"]

CHECK_TIMEOUT = aiohttp.ClientTimeout(total=5)
SCOPES = ("bot", "applications.commands")


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    optional: bool = False


def invite_permissions() -> discord.Permissions:
    """Exactly the permissions the features use, and nothing more (declared in :mod:`bot.permissions`)."""
    return discord.Permissions(**{p.flag: True for p in REQUIRED_PERMISSIONS})


def application_id_from_token(token: str) -> int | None:
    """A bot token's first segment is its user id in base64; for bots that is the application id."""
    head = token.split(".", 1)[0]
    try:
        return int(base64.b64decode(head + "=" * (-len(head) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def invite_url(settings: Settings) -> tuple[str, bool]:
    """The OAuth2 invite URL, and whether the application id is real (from the token)."""
    app_id = application_id_from_token(settings.discord_token.reveal()) if settings.discord_token else None
    url = discord.utils.oauth_url(app_id or 0, permissions=invite_permissions(), scopes=SCOPES)
    if app_id is None:
        url = url.replace("client_id=0", "client_id=YOUR_APPLICATION_ID")
    return url, app_id is not None


def check_token(settings: Settings) -> CheckResult:
    if not settings.discord_token:
        return CheckResult("discord token", False, "DISCORD_TOKEN is not set (see .env.example)")
    if application_id_from_token(settings.discord_token.reveal()) is None:
        return CheckResult("discord token", False, "DISCORD_TOKEN does not look like a bot token")
    return CheckResult("discord token", True, "set")


def check_database(path: Path) -> CheckResult:
    """Open read-only, so doctor never creates or changes a database."""
    latest = max((m.version for m in load_migrations()), default=0)
    if not path.exists():
        return CheckResult("database", True, f"{path} does not exist yet; it will be created at start-up")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return CheckResult("database", False, f"{path} is unreadable or not a SQLite database: {exc}")
    if verdict != "ok":
        return CheckResult("database", False, f"{path} failed its integrity check: {verdict}")
    if version > latest:
        return CheckResult("database", False, f"schema version {version} is newer than this Matinee ({latest})")
    pending = f", {latest - version} migration(s) pending" if version < latest else ""
    return CheckResult("database", True, f"{path}: schema version {version}{pending}")


async def _probe(
    session: aiohttp.ClientSession, name: str, url: str, *, headers=None, params=None, optional: bool = False
) -> CheckResult:
    try:
        async with session.get(url, headers=headers, params=params, allow_redirects=True) as response:
            if response.status < 400:
                return CheckResult(name, True, f"reachable (HTTP {response.status})", optional)
            return CheckResult(name, False, f"HTTP {response.status} {response.reason or ''}".strip(), optional)
    except TimeoutError:
        return CheckResult(name, False, "timed out", optional)
    except aiohttp.ClientError as exc:
        if (refusal := private_address_refusal(exc)) is not None:
            return CheckResult(name, False, f"refused: {refusal} (FEED_ALLOW_PRIVATE_NETWORKS is off)", optional)
        return CheckResult(name, False, f"unreachable ({type(exc).__name__})", optional)


async def run_checks(settings: Settings) -> list[CheckResult]:
    results = [check_token(settings), check_database(settings.database_path)]
    reviews_dir = settings.reviews_dir
    if reviews_dir is None:
        results.append(CheckResult("reviews dir", True, "not set: no Markdown folder is read", optional=True))
    else:
        results.append(
            CheckResult(
                "reviews dir",
                reviews_dir.is_dir(),
                f"{reviews_dir} {'exists' if reviews_dir.is_dir() else 'does not exist'}",
                optional=True,
            )
        )
    async with OutboundHttp(settings, timeout=CHECK_TIMEOUT) as outbound:
        feeds = outbound.session(Purpose.FEEDS)  # the bot's own policy: a private feed is refused here too
        probes = [_probe(feeds, f"feed {url}", url, optional=True) for url in settings.review_feeds]
        if settings.llm_configured:
            base = settings.openai_base_url or "https://api.openai.com/v1"
            key = settings.openai_api_key.reveal() if settings.openai_api_key else "not-needed"
            probes.append(
                _probe(
                    outbound.session(Purpose.LLM),
                    "openai",
                    f"{base}/models",
                    headers={"Authorization": f"Bearer {key}"},
                    optional=True,
                )
            )
        if settings.tmdb_api_key:
            probes.append(
                _probe(
                    outbound.session(Purpose.TMDB),
                    "tmdb",
                    f"{settings.tmdb_api_base}/configuration",
                    params={"api_key": settings.tmdb_api_key.reveal()},
                    optional=True,
                )
            )
        results.extend(await asyncio.gather(*probes))
    if not settings.review_feeds:
        results.append(CheckResult("feeds", True, "REVIEW_FEEDS not set (optional)", True))
    if not settings.llm_configured:
        results.append(CheckResult("openai", True, "not configured (optional): chat answers from retrieval only", True))
    if not settings.tmdb_api_key:
        results.append(CheckResult("tmdb", True, "not configured (optional): films come from the local catalog", True))
    return results
