"""Errors that services raise to tell the member something, without knowing about Discord."""

from __future__ import annotations

__all__ = ["NotFoundError", "UserFacingError"]


class UserFacingError(Exception):
    """An error whose message is written for the member who triggered it.

    Services raise it for bad input or a state the member can fix; the command
    tree's error handler shows the message ephemerally and logs nothing alarming.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(UserFacingError):
    """The thing asked for does not exist (a review slug, a film id…)."""
