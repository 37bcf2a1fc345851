"""Polls by the bot: end one early, and list who voted for an answer.

Why this exists: every review thread carries a star-rating poll, and Matinee reads its voters
and ends it. Only the poll's author may end it, and only once, as on Discord.
"""

from __future__ import annotations

from bot.discord_double.protocol import JSON
from bot.discord_double.recording import Files, RecordedRequest
from bot.discord_double.responses import DiscordError
from bot.discord_double.rest import ID, RouteSpec
from bot.discord_double.routes.base import Resource


class PollRoutes(Resource):
    def routes(self) -> list[RouteSpec]:
        return [
            ("POST", f"/channels/{ID}/polls/{ID}/expire", self._r_expire_poll),
            ("GET", f"/channels/{ID}/polls/{ID}/answers/{ID}", self._r_poll_answer_voters),
        ]

    async def _r_expire_poll(self, rec: RecordedRequest, body: JSON, files: Files, cid: str,
                             mid: str) -> JSON:
        msg = self.state.message(int(cid), int(mid))
        if "poll" not in msg:
            raise DiscordError(400, 50035, "Invalid Form Body")
        if msg["author"]["id"] != str(self.state.bot_user_id):
            raise DiscordError(403, 50005, "Cannot expire a poll authored by another user")
        if msg.get("_poll_finalized"):
            raise DiscordError(400, 520001, "This poll has already expired")
        return await self.world.end_poll(int(cid), int(mid))

    async def _r_poll_answer_voters(self, rec: RecordedRequest, body: JSON, files: Files, cid: str,
                                    mid: str, aid: str) -> JSON:
        self.state.message(int(cid), int(mid))
        ids = self.world.poll_voters(int(mid), int(aid))
        if "after" in rec.query:
            ids = [i for i in ids if i > int(rec.query["after"])]
        users = self.state.users
        return {"users": [users[i] for i in ids[: int(rec.query.get("limit", 25))] if i in users]}
