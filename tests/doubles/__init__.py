"""Test doubles: loopback fakes of external services (Discord, ...).

Import concrete doubles from their modules, e.g.
``from tests.doubles.discord_double import DiscordDouble``.
"""
