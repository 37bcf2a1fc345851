"""The "What did you think?" discussions: services with no discord.py types.

The cog in ``cogs/discussions`` turns gateway events and interactions into calls
on these services; everything here can be unit-tested without Discord.
"""
