-- 0008: the limits that survive a restart — the member chat rate limit and /top's minimum votes.

-- When each counted chat request was made, per member and server (guild_id NULL: a direct
-- message), for the sliding-window rate limit. at is Unix seconds (wall clock: a restart resets
-- the monotonic clock). Only the last window's rows matter; older ones are pruned.
CREATE TABLE chat_requests (
    guild_id  INTEGER,
    user_id   INTEGER NOT NULL,
    at        REAL NOT NULL
) STRICT;
CREATE INDEX chat_requests_member ON chat_requests (user_id, guild_id, at);

-- The fewest ratings a film needs to appear in this server's /top (set with /matinee top-min-votes).
ALTER TABLE guild_settings ADD COLUMN top_min_votes INTEGER NOT NULL DEFAULT 3
    CHECK (top_min_votes BETWEEN 1 AND 50);
