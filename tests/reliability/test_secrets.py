"""Secrets never reach a log line, at any level, including DEBUG.

The strongest check runs the production entry point (``matinee run`` in a child
process, LOG_LEVEL=DEBUG) against the Discord double and the OpenAI stub and
searches everything it wrote. The in-process tests feed the redactor the ways a
secret typically escapes: exception text, request-header dumps, repr of config.
"""

from __future__ import annotations

import io
import logging
import secrets as pysecrets

import pytest

from bot.logs import REDACTED, setup_logging
from bot.settings import Secret, Settings, load_settings

pytestmark = pytest.mark.e2e

EPHEMERAL = 1 << 6


def fresh_secrets() -> dict[str, str]:
    # Not shaped like a real bot token, so only the literal-value redaction can catch it.
    return {
        "DISCORD_TOKEN": f"dtok-{pysecrets.token_hex(20)}",
        "OPENAI_API_KEY": f"sk-test-{pysecrets.token_hex(20)}",
        "TMDB_API_KEY": f"tmdb{pysecrets.token_hex(16)}",
    }


def assert_no_secret(text: str, values: dict[str, str]) -> None:
    for name, value in values.items():
        assert value not in text, f"{name} leaked into the logs"
        # Part of a secret is a leak too (a log line cut at a width, a prefix shown "for debugging").
        assert value[-16:] not in text, f"the tail of {name} leaked into the logs"
    lowered = text.lower()
    for marker in ("authorization: bot d", "authorization: bearer sk", "'authorization': 'bot d"):
        assert marker not in lowered


@pytest.mark.slow
async def test_debug_logs_of_a_real_run_contain_no_secret(bot_process, double, world, openai_stub) -> None:
    values = fresh_secrets()
    bot_process.token = values["DISCORD_TOKEN"]
    proc = await bot_process.start(
        LOG_LEVEL="DEBUG",
        OPENAI_BASE_URL=openai_stub.base_url,
        TMDB_API_BASE="http://127.0.0.1:9/3",  # closed port: any TMDB call fails fast, and logs
        **values,
    )
    # The token really was used: the double saw it in the Authorization header and IDENTIFY.
    assert any(r.headers.get("Authorization") == f"Bot {values['DISCORD_TOKEN']}" for r in double.requests)
    assert any(f.get("op") == 2 and f["d"].get("token") == values["DISCORD_TOKEN"] for f in double.gateway_received)

    # Exercise logging paths: a command, a failing REST call (500, logged with the request), member traffic.
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.admin_id, "matinee about")
    assert (await record.wait_response(timeout=15))["data"]["flags"] & EPHEMERAL
    double.inject_fault("POST", r"/interactions/", 500, times=1)
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.member_id, "matinee about")
    await record.wait_response(timeout=15)
    await double.post_message(world.text_channel_id, world.member_id, f"my token is not {values['TMDB_API_KEY'][:3]}")
    # The chat feature calls the model (OpenAI client at DEBUG); /film tries TMDB, which is unreachable.
    openai_stub.queue_text("A reply from the model.")
    await double.post_message(world.text_channel_id, world.member_id, f"<@{double.bot_user_id}> hello")
    await openai_stub.wait_for_request(timeout=20)
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.member_id, "film",
                                         {"title": "Heat"})  # fmt: skip
    await record.wait_final_message(timeout=20)
    await double.disconnect()  # reconnect + RESUME log at DEBUG/INFO
    await double.wait_until(lambda: double.resume_count >= 1, timeout=15)

    rc = await proc.terminate()
    assert rc == 0, proc.output
    text = proc.output
    assert "DEBUG" in text, "the run did not log at DEBUG, so the test proves nothing"
    assert "received SIGTERM" in text
    assert any(r["headers"].get("Authorization") == f"Bearer {values['OPENAI_API_KEY']}" for r in openai_stub.requests)
    assert_no_secret(text, values)


@pytest.fixture
def log_stream():
    """Install Matinee's real logging set-up writing into a buffer; restore pytest's handlers after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("discord").level)
    buffer = io.StringIO()

    def install(settings: Settings) -> io.StringIO:
        setup_logging("DEBUG", settings.secrets())
        root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
        return buffer

    yield install
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    logging.getLogger("discord").setLevel(saved[2])


def settings_with(values: dict[str, str]) -> Settings:
    return load_settings(values, env_file=None)


LEAK_ATTEMPTS = {
    "f-string of the settings": lambda s, v: logging.getLogger("bot.x").debug("settings: %s", s),
    "repr of a Secret": lambda s, v: logging.getLogger("bot.x").debug("%r %s", s.openai_api_key, s.tmdb_api_key),
    "exception text with a URL key": lambda s, v: _log_exception(
        f"GET https://api.tmdb/3/movie?api_key={v['TMDB_API_KEY']}"
    ),
    "headers dict dump": lambda s, v: logging.getLogger("aiohttp.client").debug(
        "headers: %s", {"Authorization": f"Bot {v['DISCORD_TOKEN']}", "User-Agent": "x"}
    ),
    "bearer header text": lambda s, v: logging.getLogger("openai").debug(
        "sending Authorization: Bearer %s", v["OPENAI_API_KEY"]
    ),
    "secret as a bare argument at DEBUG": lambda s, v: logging.getLogger("discord.http").debug(
        "token=%s", v["DISCORD_TOKEN"]
    ),
    "secret in stack_info call": lambda s, v: logging.getLogger("bot.x").warning(
        "key %s", v["OPENAI_API_KEY"], stack_info=True
    ),
    "broken format string": lambda s, v: logging.getLogger("bot.x").error("%s %s", v["OPENAI_API_KEY"]),
    "lower-case authorization=": lambda s, v: logging.getLogger("x").info("authorization=%s", v["DISCORD_TOKEN"]),
}


def _log_exception(message: str) -> None:
    try:
        raise RuntimeError(message)
    except RuntimeError:
        logging.getLogger("bot.feeds").exception("fetch failed")


@pytest.mark.parametrize("attempt", sorted(LEAK_ATTEMPTS))
def test_redaction_catches_each_way_a_secret_escapes(log_stream, attempt: str) -> None:
    values = fresh_secrets()
    settings = settings_with(values)
    buffer = log_stream(settings)
    LEAK_ATTEMPTS[attempt](settings, values)
    logging.getLogger().handlers[0].flush()
    text = buffer.getvalue()
    assert text.strip(), "nothing was logged"
    assert_no_secret(text, values)


def test_settings_repr_hides_every_secret() -> None:
    values = fresh_secrets()
    settings = settings_with(values)
    shown = repr(settings) + str(settings) + f"{settings}"
    assert_no_secret(shown, values)
    assert isinstance(settings.discord_token, Secret)
    assert sorted(settings.secrets()) == sorted(values.values())
    assert REDACTED not in values.values()


@pytest.mark.slow
async def test_doctor_output_contains_no_secret(bot_process, double, openai_stub) -> None:
    import os

    values = fresh_secrets()
    proc = await bot_process.spawn(
        "--env-file", os.devnull, "doctor",
        LOG_LEVEL="DEBUG", OPENAI_BASE_URL=openai_stub.base_url, TMDB_API_BASE="http://127.0.0.1:9/3", **values,
    )  # fmt: skip
    await proc.wait_exit(60)
    assert "[ok  ] openai" in proc.output and "tmdb" in proc.output, proc.output
    assert any(r["headers"].get("Authorization") == f"Bearer {values['OPENAI_API_KEY']}" for r in openai_stub.requests)
    assert_no_secret(proc.output, values)


async def test_member_content_is_not_written_to_debug_logs_by_the_database_layer(log_stream, tmp_path) -> None:
    """Regression: aiosqlite logged every statement with its parameters (member comments) at DEBUG."""
    from bot.storage import BatchedWriter, Database

    buffer = log_stream(settings_with(fresh_secrets()))
    db = await Database.open(tmp_path / "m.db")
    await db.migrate()
    writer = BatchedWriter(db)
    await writer.write("INSERT INTO meta (key, value) VALUES (?, ?)", ("k", "a private comment, please forget"))
    await writer.close()
    await db.close()
    logging.getLogger().handlers[0].flush()
    text = buffer.getvalue()
    assert "applied migration" in text  # our own DEBUG/INFO logging still works
    assert "a private comment" not in text
