-- 0009: forgotten means forgotten; nothing lost in a gap the backfill could not read.

-- A member's request to be forgotten, per scope: one server (/forget-me) or every
-- server (guild_id 0: `matinee forget`). Erasing leaves no rows to compare with, so
-- without this record a re-read of Discord (poll voters, thread history) would
-- store the member's old votes and messages again.
--
-- before_id is a Discord snowflake: activity older than it predates the forget and
-- is never stored again; newer activity is. A message's snowflake is its id; a vote
-- has none, so a live vote event counts from when Matinee received it and a vote
-- only seen in a poll's voter list counts from the poll's creation (see
-- bot/storage/forgotten.py). While a forget is running, before_id is the largest
-- snowflake, so nothing of the member is stored until the erasers are done.
--
-- It holds ids and a time, nothing the member wrote: it is the member's request,
-- kept so that it is honoured (tests/bot/test_privacy.py lists it as not member data).
CREATE TABLE forgotten_members (
    user_id       INTEGER NOT NULL,
    guild_id      INTEGER NOT NULL,  -- 0: every server
    before_id     INTEGER NOT NULL,
    forgotten_at  TEXT,              -- NULL while the forget is running
    PRIMARY KEY (user_id, guild_id)
) STRICT;

-- The backfill cursor (discussion_threads.last_message_id) becomes "read up to":
-- every message of the thread up to it has been seen, by a backfill or live. A live
-- message moves it only while the thread owes no backfill, so it never jumps over
-- messages nobody has read (a gap while disconnected, removed from the server, or
-- refused by Discord). backfill_owed is 0 when nothing is owed; each event that may
-- open a gap adds one, so a backfill that started before the latest gap cannot
-- settle it (it clears the flag only if the value is still the one it started with).
ALTER TABLE discussion_threads ADD COLUMN backfill_owed INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER comments_thread_cursor;
CREATE TRIGGER comments_thread_cursor AFTER INSERT ON comments BEGIN
    INSERT INTO discussion_threads (thread_id, review_id, guild_id, last_message_id)
    VALUES (new.thread_id, new.review_id, new.guild_id, new.message_id)
    ON CONFLICT (thread_id) DO UPDATE SET last_message_id = max(last_message_id, excluded.last_message_id)
    WHERE discussion_threads.backfill_owed = 0;
END;
