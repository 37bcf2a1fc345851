"""The permissions Matinee needs are declared once: the invite URL, the README and the channel checks agree."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from bot.permissions import ANNOUNCEMENTS, LOG, REQUIRED_PERMISSIONS, missing_permissions
from bot.preflight import invite_permissions

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_invite_asks_for_exactly_the_declared_permissions() -> None:
    invite = invite_permissions()
    assert all(getattr(invite, p.flag) for p in REQUIRED_PERMISSIONS)
    assert bin(invite.value).count("1") == len(REQUIRED_PERMISSIONS)  # and nothing else


def test_the_readme_lists_exactly_the_declared_permissions_in_order() -> None:
    labels = [p.label for p in REQUIRED_PERMISSIONS]
    sentence = ", ".join(labels[:-1]) + " and " + labels[-1]
    text = " ".join(README.read_text(encoding="utf-8").split())  # the README wraps lines anywhere
    assert f"permissions Matinee needs: {sentence}." in text


def test_missing_permissions_depend_on_what_the_channel_is_for() -> None:
    everything = SimpleNamespace(**{p.flag: True for p in REQUIRED_PERMISSIONS})
    assert missing_permissions(everything, ANNOUNCEMENTS) == [] and missing_permissions(everything, LOG) == []
    no_embeds_no_polls = SimpleNamespace(**{**vars(everything), "embed_links": False, "send_polls": False})
    assert missing_permissions(no_embeds_no_polls, ANNOUNCEMENTS) == ["Embed Links", "Create Polls"]
    assert missing_permissions(no_embeds_no_polls, LOG) == []  # a log channel only needs to see and send
    assert missing_permissions(SimpleNamespace(), LOG) == ["View Channels", "Send Messages"]
