"""Reactions by the bot: add, remove (its own or a member's), list who reacted, clear.

Why this exists: Matinee reacts to acknowledge and reads reactions as signals. Discord refuses
a bare ASCII name that is no emoji (10014 Unknown Emoji), which is how a mistyped custom emoji
shows up; the double refuses it too.
"""

from __future__ import annotations

import re

from bot.discord_double.messages import emoji_key
from bot.discord_double.protocol import JSON
from bot.discord_double.recording import Files, RecordedRequest
from bot.discord_double.responses import DiscordError
from bot.discord_double.rest import ID, TOKEN, RouteSpec
from bot.discord_double.routes.base import Resource


class ReactionRoutes(Resource):
    def routes(self) -> list[RouteSpec]:
        reactions = f"/channels/{ID}/messages/{ID}/reactions"
        return [
            ("PUT", f"{reactions}/{TOKEN}/@me", self._r_react),
            ("DELETE", f"{reactions}/{TOKEN}/@me", self._r_unreact_me),
            ("DELETE", f"{reactions}/{TOKEN}/{ID}", self._r_unreact_user),
            ("GET", f"{reactions}/{TOKEN}", self._r_reaction_users),
            ("DELETE", f"{reactions}/{TOKEN}", self._r_clear_emoji),
            ("DELETE", reactions, self._r_clear_reactions),
        ]

    async def _r_react(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str,
                       emoji: str) -> None:
        self.state.channel(int(cid))
        self.state.message(int(cid), int(mid))
        if re.fullmatch(r"[\w~]+", emoji) and not re.fullmatch(r"[\w~]+:\d+", emoji) and emoji.isascii():
            raise DiscordError(400, 10014, "Unknown Emoji")
        await self.world.add_reaction(int(cid), int(mid), self.state.bot_user_id, emoji)

    async def _r_unreact_me(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str,
                            emoji: str) -> None:
        self.state.message(int(cid), int(mid))
        await self.world.remove_reaction(int(cid), int(mid), self.state.bot_user_id, emoji)

    async def _r_unreact_user(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str,
                              emoji: str, uid: str) -> None:
        self.state.message(int(cid), int(mid))
        await self.world.remove_reaction(int(cid), int(mid), int(uid), emoji)

    async def _r_reaction_users(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str,
                                emoji: str) -> list[JSON]:
        self.state.message(int(cid), int(mid))
        key, _ = emoji_key(emoji)
        ids = sorted(self.state.reactions.get((int(mid), key), []))
        if "after" in rec.query:
            ids = [i for i in ids if i > int(rec.query["after"])]
        return [self.state.users[i] for i in ids[: int(rec.query.get("limit", 25))] if i in self.state.users]

    async def _r_clear_emoji(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str,
                             emoji: str) -> None:
        self.state.message(int(cid), int(mid))
        await self.world.clear_reactions(int(cid), int(mid), emoji)

    async def _r_clear_reactions(self, rec: RecordedRequest, body: JSON, files: Files, cid: str,
                                 mid: str) -> None:
        self.state.message(int(cid), int(mid))
        await self.world.clear_reactions(int(cid), int(mid))
