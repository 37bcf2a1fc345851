"""What went wrong with a model call, told apart once for every caller.

Errors are classified by type and by the API's error ``code``, never by matching
the human-readable message, which providers reword at will. The layer only says
*what* failed (:class:`ProviderFailure`, raised as :class:`ModelError`); each
caller decides what that means: chat replies with the friendly sentence,
discussion prompts fall back to templates, summaries to statistics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import openai

__all__ = [
    "ModelError",
    "ProviderFailure",
    "classify",
    "is_context_length_error",
    "log_failure",
]

log = logging.getLogger(__name__)

CONTEXT_LENGTH_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
MODEL_NOT_FOUND_CODES = frozenset({"model_not_found"})


@dataclass(frozen=True, slots=True)
class ProviderFailure:
    kind: str  # rate_limited | server_error | timeout | connection | context_length | unknown_model | auth | other
    message: str  # what a member is told


class ModelError(Exception):
    """A model call that failed, already classified; the original error is ``__cause__``."""

    def __init__(self, failure: ProviderFailure, cause: BaseException) -> None:
        super().__init__(f"model call failed: {failure.kind} ({type(cause).__name__})")
        self.failure = failure
        self.cause = cause
        self.status: int | None = getattr(cause, "status_code", None)

    @classmethod
    def of(cls, exc: BaseException) -> ModelError:
        return cls(classify(exc), exc)

    @property
    def kind(self) -> str:
        return self.failure.kind


def _code(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    if code:
        return str(code)
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        value = inner.get("code") if isinstance(inner, dict) else None
        return str(value) if value else None
    return None


def is_context_length_error(exc: BaseException) -> bool:
    return isinstance(exc, openai.BadRequestError) and _code(exc) in CONTEXT_LENGTH_CODES


def classify(exc: BaseException) -> ProviderFailure:
    """Which failure this is, and the friendly sentence for it.

    A deadline the layer itself enforces (``TimeoutError`` from ``asyncio``) is a
    timeout like the client's own; anything that isn't a provider error is "other".
    """
    code = _code(exc)
    if isinstance(exc, openai.RateLimitError):
        return ProviderFailure(
            "rate_limited",
            "The film projector is overheating: my model provider is getting too many requests right now. "
            "Please try again in a minute.",
        )
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return ProviderFailure(
            "timeout", "My model took too long to answer, so I gave up waiting. Please try again in a moment."
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderFailure(
            "connection", "I couldn't reach my model just now (connection trouble). Please try again in a moment."
        )
    if is_context_length_error(exc):
        return ProviderFailure(
            "context_length",
            "That conversation has grown longer than my model can read at once, even trimmed down. "
            "Try a shorter question, or start fresh in a new thread.",
        )
    if isinstance(exc, openai.NotFoundError) or code in MODEL_NOT_FOUND_CODES:
        return ProviderFailure(
            "unknown_model",
            "The model I'm configured to use isn't available on the provider. "
            "An admin should check the OPENAI_MODEL setting.",
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ProviderFailure(
            "auth", "My model provider refused my credentials. An admin should check the chat settings."
        )
    if isinstance(exc, openai.InternalServerError) or (
        isinstance(exc, openai.APIStatusError) and exc.status_code >= 500
    ):
        return ProviderFailure(
            "server_error", "My model provider is having trouble right now (a server error). Please try again later."
        )
    return ProviderFailure("other", "Something went wrong while I was thinking about that. Please try again later.")


def log_failure(
    exc: BaseException,
    failure: ProviderFailure,
    *,
    model: str,
    what: str = "chat",
    attempt: str = "",
    logger: logging.Logger | None = None,
) -> None:
    """Log what failed without secrets: type, status, code and request id, not bodies or keys.

    ``what`` names the caller ("chat", "discussion summary"), ``attempt`` what it
    does next. Error messages are logged only where providers never echo
    credentials into them (not for 401/403, whose messages can include a masked key).
    """
    status = getattr(exc, "status_code", None)
    request_id = getattr(exc, "request_id", None)
    detail = ""
    if failure.kind not in {"auth"} and isinstance(exc, openai.APIError):
        detail = str(getattr(exc, "message", ""))[:200]
    (logger or log).warning(
        "%s model call failed%s: kind=%s type=%s status=%s code=%s request_id=%s model=%s detail=%r",
        what,
        f" ({attempt})" if attempt else "",
        failure.kind,
        type(exc).__name__,
        status,
        _code(exc),
        request_id,
        model,
        detail,
    )
