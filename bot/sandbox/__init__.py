"""Try Matinee without Discord: a local sandbox in the browser, with the same unmodified bot.

Why this exists: seeing what Matinee does used to need a Discord application, a token and a
server. The sandbox runs a loopback Discord (:mod:`bot.discord_double`, the one the tests
use), a server called "Film Club" in it, a sample blog with an RSS feed, and
:class:`~bot.bot.MatineeBot` with every cog, connected through its normal settings. A
Discord-like page on ``127.0.0.1`` lets you act as the server's owner or two members.

The parts: :mod:`~bot.sandbox.world` (the server and Matinee's set-up through its own
commands), :mod:`~bot.sandbox.blog` (the sample blog), :mod:`~bot.sandbox.view` and
:mod:`~bot.sandbox.live` (the world as the page sees it, and its live updates),
:mod:`~bot.sandbox.ui` (the page's server; the page itself is in ``static/``) and
:mod:`~bot.sandbox.runner` (starting and stopping it all). ``matinee sandbox`` is in
:mod:`bot.cli.sandbox`.
"""

from .runner import Sandbox, SandboxOptions

__all__ = ["Sandbox", "SandboxOptions"]
