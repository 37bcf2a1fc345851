"""Deployment tests drive the real ``matinee`` entry points; the fixtures are the reliability suite's."""

from tests.reliability.conftest import bot_process, double  # noqa: F401
