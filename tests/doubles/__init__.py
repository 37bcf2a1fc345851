"""Test doubles: loopback fakes of external services (OpenAI, blog feeds, TMDB).

Import each from its module, e.g. ``from tests.doubles.openai_stub import OpenAIStub``.
The Discord double ships with the bot, for the sandbox too: ``from bot.discord_double import DiscordDouble``.
"""
