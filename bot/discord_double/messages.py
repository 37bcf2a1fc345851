"""Messages as Discord makes them: validation, mentions, polls, attachments, replies and edits.

Why this exists: a bot's message goes through the same rules whether it is sent over REST,
as an interaction response or as a follow-up, and a member's message is built the same way
(without the checks). The limits here are Discord's (2,000 characters, 10 embeds), so a bot
that breaks them gets the error Discord would give, and ``allowed_mentions`` is applied as
Discord applies it, so a test can see who would have been pinged.
"""

from __future__ import annotations

import copy
import datetime as dt
import re

from bot.discord_double.protocol import FLAG_EPHEMERAL, FLAG_HAS_THREAD, JSON
from bot.discord_double.recording import RecordedFile
from bot.discord_double.responses import DiscordError, invalid_form
from bot.discord_double.snowflakes import iso, make_snowflake
from bot.discord_double.state import State

MAX_CONTENT = 2000
MAX_EMBEDS = 10
REPLY = 19


def content_too_long() -> DiscordError:
    return invalid_form("content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length.")


def emoji_key(emoji: str | JSON) -> tuple[str, JSON]:
    """Normalise "👍", "name:id", "<:name:id>" or an emoji dict to (key, emoji object)."""
    if isinstance(emoji, dict):
        if emoji.get("id"):
            return f"{emoji.get('name')}:{emoji['id']}", {"id": str(emoji["id"]), "name": emoji.get("name"),
                                                            "animated": bool(emoji.get("animated"))}
        return emoji["name"], {"id": None, "name": emoji["name"]}
    m = re.fullmatch(r"<?(a)?:?([\w~]+):(\d+)>?", emoji)
    if m:
        return f"{m.group(2)}:{m.group(3)}", {"id": m.group(3), "name": m.group(2), "animated": bool(m.group(1))}
    return emoji, {"id": None, "name": emoji}


def build_poll(spec: JSON) -> JSON:
    """A poll as stored from the request's poll: answers numbered from 1, expiry from ``duration`` hours."""
    answers = []
    for i, ans in enumerate(spec.get("answers", []), start=1):
        answers.append({"answer_id": i, "poll_media": ans.get("poll_media", ans)})
    duration = int(spec.get("duration", 24))
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=duration)
    return {
        "question": spec.get("question", {"text": ""}),
        "answers": answers,
        "expiry": iso(expiry),
        "allow_multiselect": bool(spec.get("allow_multiselect", False)),
        "layout_type": spec.get("layout_type", 1),
    }


class Composer:
    """Builds message dicts from request bodies and applies edits, against the world in ``state``."""

    def __init__(self, state: State) -> None:
        self.state = state

    def parse_mentions(self, content: str, gid: int | None, allowed: JSON | None,
                       author_id: int) -> tuple[list[JSON], list[str], bool]:
        """(mentioned users, mentioned role ids, mentions everyone) after ``allowed_mentions``."""
        user_ids = [int(x) for x in re.findall(r"<@!?(\d+)>", content)]
        role_ids = re.findall(r"<@&(\d+)>", content)
        everyone = "@everyone" in content or "@here" in content
        if allowed is not None:
            parse = allowed.get("parse", [])
            allowed_users = {int(u) for u in allowed.get("users", [])}
            allowed_roles = {str(r) for r in allowed.get("roles", [])}
            user_ids = [u for u in user_ids if "users" in parse or u in allowed_users]
            role_ids = [r for r in role_ids if "roles" in parse or r in allowed_roles]
            everyone = everyone and "everyone" in parse
        mentions = []
        for uid in dict.fromkeys(user_ids):
            user = self.state.users.get(uid)
            if user is None:
                continue
            entry = dict(user)
            member = self.state.members.get(gid, {}).get(uid) if gid else None
            if member is not None:
                entry["member"] = {k: v for k, v in member.items() if k != "user"}
            mentions.append(entry)
        return mentions, list(dict.fromkeys(role_ids)), everyone

    def store_attachments(self, specs: list[JSON], files: list[RecordedFile]) -> list[JSON]:
        """Turn uploaded ``files[n]`` (+ ``attachments`` metadata) into attachment objects."""
        meta_by_index = {str(a.get("id")): a for a in specs}
        out = []
        for f in files:
            m = re.fullmatch(r"files\[(\d+)\]", f.field_name)
            idx = m.group(1) if m else str(len(out))
            meta = meta_by_index.get(idx, {})
            aid = make_snowflake()
            filename = meta.get("filename") or f.filename or f"file{idx}"
            self.state.attachments[aid] = f.data
            url = self.state.attachment_url(aid, filename)
            att = {"id": str(aid), "filename": filename, "size": len(f.data), "url": url, "proxy_url": url,
                   "content_type": f.content_type or "application/octet-stream"}
            if meta.get("description"):
                att["description"] = meta["description"]
            if filename.startswith("SPOILER_"):
                att["spoiler"] = True
            out.append(att)
        # attachments kept from a previous version (edits pass {"id": existing})
        return out

    def compose(self, channel_id: int, author: JSON, payload: JSON, *, files: list[RecordedFile] | None = None,
                message_id: int | None = None, msg_type: int = 0, webhook_id: int | None = None,
                extra: JSON | None = None, validate: bool = True) -> JSON:
        """Validate + build a message dict (not yet stored)."""
        files = files or []
        content = payload.get("content") or ""
        embeds = payload.get("embeds") or []
        components = payload.get("components") or []
        if validate:
            if not (content or embeds or files or payload.get("poll") or components or payload.get("sticker_ids")):
                raise DiscordError(400, 50006, "Cannot send an empty message")
            if len(content) > MAX_CONTENT:
                raise content_too_long()
            if len(embeds) > MAX_EMBEDS:
                raise invalid_form("embeds", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length.")
        gid = self.state.channel_guild_id(channel_id)
        mentions, mention_roles, everyone = self.parse_mentions(
            content, gid, payload.get("allowed_mentions"), int(author["id"]))
        msg: JSON = {
            "id": str(message_id or make_snowflake()),
            "channel_id": str(channel_id),
            "author": copy.deepcopy(author),
            "content": content,
            "timestamp": iso(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": everyone,
            "mentions": mentions,
            "mention_roles": mention_roles,
            "mention_channels": [],
            "attachments": self.store_attachments(payload.get("attachments") or [], files),
            "embeds": [{"type": "rich", **e} for e in embeds],
            "pinned": False,
            "type": msg_type,
            "flags": int(payload.get("flags") or 0),
            "components": components,
        }
        if webhook_id is not None:
            msg["webhook_id"] = str(webhook_id)
        if payload.get("nonce") is not None:
            msg["nonce"] = payload["nonce"]
        if payload.get("poll"):
            msg["poll"] = build_poll(payload["poll"])
        if payload.get("sticker_ids"):
            msg["sticker_items"] = [{"id": str(s), "name": "sticker", "format_type": 1} for s in payload["sticker_ids"]]
        ref = payload.get("message_reference")
        if ref:
            self._add_reference(msg, ref, channel_id, gid, msg_type)
        if extra:
            msg.update(extra)
        return msg

    def _add_reference(self, msg: JSON, ref: JSON, channel_id: int, gid: int | None, msg_type: int) -> None:
        """A reply (reference type 0) or a forward (type 1) of another message."""
        ref_cid = int(ref.get("channel_id") or channel_id)
        ref_mid = int(ref["message_id"])
        target = next((m for m in self.state.messages.get(ref_cid, []) if int(m["id"]) == ref_mid), None)
        if target is None and ref.get("fail_if_not_exists", True):
            raise invalid_form("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
        msg["message_reference"] = {"type": ref.get("type", 0), "message_id": str(ref_mid),
                                    "channel_id": str(ref_cid)}
        if gid is not None:
            msg["message_reference"]["guild_id"] = str(gid)
        if ref.get("type", 0) == 0:
            msg["type"] = REPLY if msg_type == 0 else msg_type
            msg["referenced_message"] = self.state.render_message(target) if target else None
        elif target is not None:  # forward
            msg["message_snapshots"] = [{"message": {k: target[k] for k in (
                "content", "embeds", "attachments", "timestamp", "edited_timestamp", "flags", "mentions",
                "mention_roles", "type", "components")}}]

    def apply_edit(self, msg: JSON, body: JSON, files: list[RecordedFile]) -> None:
        """Apply a PATCH body to a stored message, as Discord does (a poll cannot be edited)."""
        if "content" in body:
            content = body["content"] or ""
            if len(content) > MAX_CONTENT:
                raise content_too_long()
            msg["content"] = content
            gid = self.state.channel_guild_id(int(msg["channel_id"]))
            msg["mentions"], msg["mention_roles"], msg["mention_everyone"] = self.parse_mentions(
                content, gid, body.get("allowed_mentions"), int(msg["author"]["id"]))
        if "embeds" in body:
            msg["embeds"] = [{"type": "rich", **e} for e in body["embeds"] or []]
        if "components" in body:
            msg["components"] = body["components"] or []
        if "flags" in body and body["flags"] is not None:
            keep = msg.get("flags", 0) & (FLAG_EPHEMERAL | FLAG_HAS_THREAD)
            msg["flags"] = int(body["flags"]) | keep
        if "attachments" in body or files:
            specs = body.get("attachments") or []
            kept_ids = {str(a["id"]) for a in specs if "filename" not in a or (str(a["id"]).isdigit() and
                        int(a["id"]) > 10_000)}
            kept = [a for a in msg["attachments"] if a["id"] in kept_ids]
            msg["attachments"] = kept + self.store_attachments(specs, files)
        if body.get("poll"):
            raise invalid_form("poll", "CANNOT_EDIT_POLL", "Polls cannot be edited")
        msg["edited_timestamp"] = iso()


def attachment_from_test(state: State, att: JSON) -> JSON:
    """An attachment described by a test (``filename`` at least) on a member's message; nothing is uploaded."""
    aid = att.get("id") or make_snowflake()
    url = att.get("url") or state.attachment_url(aid, att["filename"])
    return {"id": str(aid), "filename": att["filename"], "size": att.get("size", 0), "url": url, "proxy_url": url,
            "content_type": att.get("content_type", "application/octet-stream"),
            **{k: v for k, v in att.items() if k not in ("id", "url")}}

