"""Provider failures are told apart by type and error code, never by message text."""

from __future__ import annotations

import logging

import httpx2
import openai
import pytest

from bot.llm.errors import classify, is_context_length_error, log_failure

REQUEST = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")


def status_error(status: int, *, code: str | None = None, message: str = "boom") -> openai.APIStatusError:
    client = openai.AsyncOpenAI(api_key="sk-secret-do-not-log", base_url="http://127.0.0.1/v1")
    body = {"error": {"message": message, "type": "x", "code": code, "param": None}}
    return client._make_status_error(message, body=body, response=httpx2.Response(status, request=REQUEST))


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (status_error(400, code="context_length_exceeded"), "context_length"),
        (status_error(400, code="model_not_found"), "unknown_model"),
        (status_error(404), "unknown_model"),
        (status_error(429, code="rate_limit_exceeded"), "rate_limited"),
        (status_error(500), "server_error"),
        (status_error(503), "server_error"),
        (status_error(401), "auth"),
        (openai.APITimeoutError(REQUEST), "timeout"),
        (openai.APIConnectionError(request=REQUEST), "connection"),
        (status_error(400, code="invalid_value", message="maximum context length exceeded"), "other"),
    ],
)
def test_classify(exc: Exception, kind: str) -> None:
    failure = classify(exc)
    assert failure.kind == kind
    assert failure.message and "Error code" not in failure.message


def test_context_length_needs_the_code_not_the_words() -> None:
    assert is_context_length_error(status_error(400, code="context_length_exceeded", message="whatever"))
    assert not is_context_length_error(status_error(400, message="context_length_exceeded in text only"))


def test_log_failure_names_the_error_but_not_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    exc = status_error(401, message="Incorrect API key provided: sk-secr************")
    log_failure(exc, classify(exc), model="gpt-4o-mini")
    text = caplog.text
    assert "kind=auth" in text and "status=401" in text and "AuthenticationError" in text
    assert "sk-secr" not in text
