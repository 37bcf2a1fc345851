"""The checks behind ``matinee doctor`` (the command is :mod:`bot.cli.doctor`), and the invite URL.

Doctor is only worth running if "ok" can be trusted, so each check does what the bot
would do and says ok only when that worked:

* the token is shown to Discord (``GET /users/@me``), and the application's flags say
  whether the Message Content intent is on (:mod:`bot.discord_api`);
* the database's directory and file are checked for writing (:mod:`bot.storage.access`),
  never "corrupt" for a permission problem, and its schema version is compared with
  this Matinee's;
* every feed, from ``REVIEW_FEEDS`` and from ``/matinee feed add`` in the database, is
  fetched with the bot's fetcher through the bot's feeds session (a private address is
  refused exactly as the bot refuses it) and parsed by the bot's parser;
* the model and TMDB get one cheap authenticated call each, through the bot's clients.

Each result is ok, FAIL, "could not check" or "not configured". A service that does not
answer at all is "could not check" when nothing answered (the machine seems offline),
and FAIL when other services did (the network works, that service does not). Doctor
never needs a token or the network to *finish*, never creates or changes the database,
and reports every problem it finds instead of stopping at the first.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import discord

from .discord_api import (
    DEFAULT_DISCORD_API_BASE,
    MESSAGE_CONTENT_STEP,
    RESET_TOKEN_STEP,
    DiscordApi,
    DiscordApiError,
    DiscordUnreachable,
    TokenRejected,
)
from .films.tmdb import TmdbClient, TmdbUnavailable
from .llm import LLM, ModelError
from .outbound import OutboundHttp, Purpose
from .permissions import REQUIRED_PERMISSIONS
from .reviews.feeds import FeedParseError, parse_feed
from .reviews.fetch import PRIVATE_NETWORKS_REFUSED, FeedFetcher, FeedFetchError
from .settings import Settings
from .storage import Database, FeedRepository, StorageError, load_migrations
from .storage.access import database_access_problem
from .storage.feeds import feed_url_key
from .storage.reader import read_only_uri
from .text import one_line, truncate

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_UNCHECKED",
    "CheckResult",
    "Status",
    "check_database",
    "exit_code",
    "invite_permissions",
    "invite_url",
    "run_checks",
]

CHECK_SECONDS = 8.0
CHECK_TIMEOUT = aiohttp.ClientTimeout(total=CHECK_SECONDS, sock_connect=5)
SCOPES = ("bot", "applications.commands")
OPENAI_DEFAULT_BASE = "https://api.openai.com/v1"

EXIT_OK = 0  # every configured check passed ("not configured" is fine)
EXIT_FAILED = 1  # at least one configured part does not work
EXIT_UNCHECKED = 3  # nothing failed, but something could not be checked (offline, or a service's outage)


class Status(enum.Enum):
    OK = "ok"
    FAIL = "FAIL"
    UNCHECKED = "??"  # could not check: no answer while offline, a service's outage, a prerequisite failed
    OFF = "--"  # not configured, and it need not be


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of doctor's report.

    ``answered``: a server answered this check, so the network works. ``unreachable``:
    no server answered; :func:`run_checks` turns it into FAIL or "could not check".
    """

    name: str
    status: Status
    detail: str
    answered: bool = False
    unreachable: bool = False

    @property
    def ok(self) -> bool:
        """Nothing to fix here: it works, or it is not configured."""
        return self.status in (Status.OK, Status.OFF)


def exit_code(results: list[CheckResult]) -> int:
    """:data:`EXIT_FAILED` if anything failed, else :data:`EXIT_UNCHECKED` if anything went unchecked, else 0."""
    if any(r.status is Status.FAIL for r in results):
        return EXIT_FAILED
    if any(r.status is Status.UNCHECKED for r in results):
        return EXIT_UNCHECKED
    return EXIT_OK


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


# -- Discord ----------------------------------------------------------------------------------

TOKEN, INTENT = "discord token", "message content"


async def check_discord(settings: Settings, session: aiohttp.ClientSession) -> list[CheckResult]:
    """The token, shown to Discord; then the application's Message Content intent."""
    if not settings.discord_token:
        return [
            CheckResult(TOKEN, Status.FAIL, f"DISCORD_TOKEN is not set (see .env.example): {RESET_TOKEN_STEP}"),
            CheckResult(INTENT, Status.UNCHECKED, "could not check without a token"),
        ]
    token = settings.discord_token.reveal()
    if application_id_from_token(token) is None:
        return [
            CheckResult(TOKEN, Status.FAIL, f"DISCORD_TOKEN does not look like a bot token: {RESET_TOKEN_STEP}"),
            CheckResult(INTENT, Status.UNCHECKED, "could not check without a working token"),
        ]
    base = settings.discord_api_base or DEFAULT_DISCORD_API_BASE
    api = DiscordApi(session, token, api_base=base)
    try:
        user = await api.bot_user()
    except DiscordUnreachable as exc:
        if exc.status is not None:  # Discord answered, with an outage or a rate limit
            token_result = CheckResult(TOKEN, Status.UNCHECKED, f"{exc}; try again in a minute", answered=True)
        else:
            detail = f"could not reach Discord at {base}: {exc}"
            token_result = CheckResult(TOKEN, Status.FAIL, detail, unreachable=True)
        return [token_result, CheckResult(INTENT, Status.UNCHECKED, "could not check: Discord did not answer")]
    except TokenRejected:
        return [
            CheckResult(TOKEN, Status.FAIL, f"Discord rejected DISCORD_TOKEN: {RESET_TOKEN_STEP}", answered=True),
            CheckResult(INTENT, Status.UNCHECKED, "could not check without a working token"),
        ]
    except DiscordApiError as exc:
        return [
            CheckResult(TOKEN, Status.FAIL, f"{base}: {exc}", answered=True),
            CheckResult(INTENT, Status.UNCHECKED, "could not check: Discord's answer was not understood"),
        ]
    token_result = CheckResult(
        TOKEN, Status.OK, f"Discord accepts it: the bot is {_shown(user.name)} (id {user.id})", answered=True
    )
    try:
        application = await api.application()
    except (DiscordUnreachable, DiscordApiError, TokenRejected) as exc:
        return [token_result, CheckResult(INTENT, Status.UNCHECKED, f"could not read the application's flags: {exc}")]
    if application.message_content_intent:
        intent = CheckResult(INTENT, Status.OK, "the Message Content intent is on", answered=True)
    else:
        intent = CheckResult(
            INTENT,
            Status.FAIL,
            f"the Message Content intent is off, so Matinee cannot read replies: {MESSAGE_CONTENT_STEP}",
            answered=True,
        )
    return [token_result, intent]


# -- the database -------------------------------------------------------------------------------


def check_database(path: Path) -> CheckResult:
    """Writable directory and file, then the schema version; opens read-only, so it never changes anything."""
    latest = max((m.version for m in load_migrations()), default=0)
    if (problem := database_access_problem(path)) is not None:
        return CheckResult("database", Status.FAIL, problem)
    if not path.exists():
        return CheckResult(
            "database", Status.OK, f"{path} does not exist yet; its directory is writable, so start-up will create it"
        )
    try:
        conn = sqlite3.connect(read_only_uri(path), uri=True, timeout=2)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return CheckResult("database", Status.FAIL, f"{path} is unreadable or not a SQLite database: {exc}")
    if verdict != "ok":
        return CheckResult("database", Status.FAIL, f"{path} failed its integrity check: {verdict}")
    if version > latest:
        return CheckResult(
            "database",
            Status.FAIL,
            f"{path} is at schema version {version}, newer than this Matinee's {latest}: upgrade Matinee",
        )
    pending = f"; {latest - version} migration(s) will run at the next start" if version < latest else ""
    return CheckResult(
        "database", Status.OK, f"{path}: writable, schema version {version} (this Matinee's: {latest}){pending}"
    )


def check_reviews_dir(settings: Settings) -> CheckResult:
    reviews_dir: Path | None = settings.reviews_dir
    if reviews_dir is None:
        return CheckResult("reviews dir", Status.OFF, "not set: no Markdown folder is read")
    if not reviews_dir.is_dir():
        return CheckResult("reviews dir", Status.FAIL, f"REVIEWS_DIR {reviews_dir} does not exist or is not a folder")
    count = sum(1 for _ in reviews_dir.glob("*.md"))
    return CheckResult("reviews dir", Status.OK, f"{reviews_dir}: {count} Markdown file(s)")


# -- feeds ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedToCheck:
    url: str
    origin: str  # where it is configured, for the operator to find it


async def feeds_to_check(settings: Settings, database: CheckResult) -> tuple[list[FeedToCheck], str | None]:
    """``REVIEW_FEEDS`` and the feeds servers added with ``/matinee feed add``; and a note if the latter are unknown."""
    feeds = [FeedToCheck(url, "REVIEW_FEEDS") for url in settings.review_feeds]
    path = settings.database_path
    if not path.exists():
        return feeds, None
    unread = "feeds added with /matinee feed add were not read"
    if database.status is not Status.OK:
        return feeds, f"{unread}: the database needs fixing first"
    try:
        db = await Database.open(path, read_only=True)  # looks only: no switch to WAL, no -wal/-shm beside it
        try:
            if await db.user_version() != load_migrations()[-1].version:
                return feeds, f"{unread}: the database will be migrated at the next start; run doctor again then"
            subscribed = [f for f in await FeedRepository(db).active() if not f.builtin]
        finally:
            await db.close()
    except (StorageError, sqlite3.Error) as exc:
        return feeds, f"{unread}: {exc}"
    seen = {feed_url_key(f.url) for f in feeds}
    for feed in subscribed:
        if feed_url_key(feed.url) not in seen:
            seen.add(feed_url_key(feed.url))
            feeds.append(FeedToCheck(feed.url, "added with /matinee feed add"))
    return feeds, None


async def check_feed(fetcher: FeedFetcher, feed: FeedToCheck) -> CheckResult:
    """Fetch with the bot's fetcher (its URL policy, size cap and redirects) and parse with the bot's parser."""
    name = f"feed {truncate(feed.url, 120)}"
    try:
        fetched = await fetcher.fetch(feed.url)
    except FeedFetchError as exc:
        # The bot's own words: a refused private address reads exactly as /matinee feed add says it.
        hint = ""
        if str(exc).endswith(PRIVATE_NETWORKS_REFUSED):
            hint = "; set FEED_ALLOW_PRIVATE_NETWORKS=true only if this feed really is on your own network"
        return CheckResult(name, Status.FAIL, f"{exc} ({feed.origin}){hint}", unreachable=exc.unreachable)
    try:
        parsed = await asyncio.to_thread(parse_feed, fetched.body, url=fetched.url, content_type=fetched.content_type)
    except FeedParseError as exc:
        kind = (fetched.content_type or "no content type").split(";")[0]
        return CheckResult(
            name, Status.FAIL, f"answered HTTP 200 ({kind}), but {exc} ({feed.origin})", answered=True
        )
    title = f'"{_shown(parsed.title)}"' if parsed.title else "untitled"
    notes = "".join(f"; {w}" for w in parsed.warnings)
    return CheckResult(
        name, Status.OK, f"{title}, {len(parsed.entries)} entries ({feed.origin}){notes}", answered=True
    )


# -- the model and TMDB ---------------------------------------------------------------------------


def _offers(models: list[str], wanted: str) -> bool:
    """Whether ``wanted`` is among ``models``; Ollama's ``name`` and ``name:latest`` are one model."""
    names = set(models) | {m.removesuffix(":latest") for m in models}
    return wanted in names or wanted.removesuffix(":latest") in names


async def check_model(settings: Settings) -> CheckResult:
    if not settings.llm_configured:
        return CheckResult("openai", Status.OFF, "not configured: chat answers from retrieval only")
    base = settings.openai_base_url or OPENAI_DEFAULT_BASE
    llm = LLM.from_settings(settings)
    assert llm is not None  # llm_configured
    try:
        models = await llm.list_models(timeout=CHECK_SECONDS)
    except ModelError as exc:
        if exc.kind in ("connection", "timeout"):
            return CheckResult("openai", Status.FAIL, f"could not reach {base} ({exc.kind})", unreachable=True)
        if exc.kind == "auth":
            return CheckResult(
                "openai", Status.FAIL, f"{base} rejected OPENAI_API_KEY (HTTP {exc.status})", answered=True
            )
        if exc.kind in ("rate_limited", "server_error"):
            return CheckResult(
                "openai", Status.UNCHECKED, f"{base} answered HTTP {exc.status}; try again later", answered=True
            )
        return CheckResult(
            "openai",
            Status.FAIL,
            f"{base}/models answered HTTP {exc.status}: is OPENAI_BASE_URL an OpenAI-compatible /v1 address?",
            answered=True,
        )
    finally:
        await llm.aclose()
    model = settings.openai_model
    if not models:
        detail = f"{base}: the key works (it lists no models to confirm {model})"
        return CheckResult("openai", Status.OK, detail, answered=True)
    if not _offers(models, model):
        listed = ", ".join(_shown(m) for m in models[:8]) + (", …" if len(models) > 8 else "")
        return CheckResult(
            "openai", Status.FAIL, f"{base} does not offer OPENAI_MODEL={model}; it offers {listed}", answered=True
        )
    return CheckResult("openai", Status.OK, f"{base}: the key works and {model} is available", answered=True)


async def check_tmdb(settings: Settings, session: aiohttp.ClientSession) -> CheckResult:
    if not settings.tmdb_api_key:
        return CheckResult("tmdb", Status.OFF, "not configured: films come from the local catalog")
    base = settings.tmdb_api_base
    client = TmdbClient(session, base_url=base, api_key=settings.tmdb_api_key, timeout=CHECK_SECONDS)
    try:
        await client.check()
    except TmdbUnavailable as exc:
        if exc.reason in ("network", "timeout"):
            return CheckResult("tmdb", Status.FAIL, f"could not reach {base} ({exc.reason})", unreachable=True)
        if exc.reason == "auth":
            return CheckResult("tmdb", Status.FAIL, f"{base} rejected TMDB_API_KEY", answered=True)
        if exc.reason in ("rate_limited", "server"):
            return CheckResult("tmdb", Status.UNCHECKED, f"{base} is {exc.reason}; try again later", answered=True)
        return CheckResult(
            "tmdb", Status.FAIL, f"{base} answered, but not as TMDB's API does: check TMDB_API_BASE", answered=True
        )
    return CheckResult("tmdb", Status.OK, f"{base}: the key works", answered=True)


# -- all of it ------------------------------------------------------------------------------------


async def run_checks(settings: Settings) -> list[CheckResult]:
    """Every check, network ones concurrently; then "no answer" is judged against whether anything answered."""
    database = check_database(settings.database_path)
    results = [database, check_reviews_dir(settings)]
    feeds, feeds_note = await feeds_to_check(settings, database)
    async with OutboundHttp(settings, timeout=CHECK_TIMEOUT) as outbound:
        # The bot's own fetcher and feeds session: a private feed is refused here as the bot refuses it.
        fetcher = FeedFetcher(outbound.session(Purpose.FEEDS), timeout=CHECK_TIMEOUT)
        discord_results, *others = await asyncio.gather(
            check_discord(settings, outbound.session(Purpose.DISCORD)),
            check_model(settings),
            check_tmdb(settings, outbound.session(Purpose.TMDB)),
            *(check_feed(fetcher, feed) for feed in feeds),
        )
    results = [*discord_results, *results, *others]
    if not feeds:
        detail = "none: REVIEW_FEEDS is not set and no server added one with /matinee feed add"
        results.append(CheckResult("feeds", Status.OFF, detail))
    if feeds_note:
        results.append(CheckResult("feeds", Status.UNCHECKED, feeds_note))
    return _judge_unreachable(results)


def _judge_unreachable(results: list[CheckResult]) -> list[CheckResult]:
    """No answer from one service while others answered is that service's failure; from all, the network's."""
    online = any(r.answered for r in results)
    judged = []
    for result in results:
        if result.unreachable and not online:
            detail = f"could not check: {result.detail}; nothing answered, so this machine seems to be offline"
            result = replace(result, status=Status.UNCHECKED, detail=detail)
        judged.append(result)
    return judged


def _shown(text: str | None) -> str:
    """Text from a server (a feed's title, a bot's name) on one line and short."""
    return truncate(one_line(text or ""), 80)
