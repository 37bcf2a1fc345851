"""An extension whose setup fails, to show one broken cog does not stop the others."""


async def setup(bot) -> None:
    raise RuntimeError("this cog is broken on purpose")
