"""Logging set-up with secret redaction.

Secrets can reach a log line in ways no reviewer spots: an exception message that
embeds a URL with a key, a debug dump of request headers, an f-string of a config
object. The filter below scrubs every known secret value and any
``Authorization`` header value from every record, at every level, before any
handler formats it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["REDACTED", "SecretRedactor", "setup_logging"]

REDACTED = "********"
_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bot |bearer )?[^\s'\",}]+")
_BOT_TOKEN_SHAPE = re.compile(r"[MNO][A-Za-z\d_-]{23,25}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,40}")


class SecretRedactor(logging.Filter):
    """Replace secret values in a record's message, arguments and traceback."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}{REDACTED}", text)
        return _BOT_TOKEN_SHAPE.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = str(record.msg)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> SecretRedactor:
    """Configure the root logger once; every handler gets the redactor."""
    redactor = SecretRedactor(secrets)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s"))
    handler.addFilter(redactor)
    root.addHandler(handler)
    root.setLevel(level)
    # discord.http logs every request at DEBUG; keep it but make sure it passes the filter too.
    logging.getLogger("discord").setLevel(level)
    # aiosqlite logs every statement *with its parameters* at DEBUG: member comments would end up
    # in log files that /forget-me cannot erase, twice per write. Its DEBUG adds nothing ours lacks.
    logging.getLogger("aiosqlite").setLevel(max(logging.getLevelName(level), logging.INFO))
    return redactor
