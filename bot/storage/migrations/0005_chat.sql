-- 0005: chat — per-channel conversations and per-guild daily token usage.

-- One row per turn of a conversation. A conversation is a channel, thread or DM
-- channel (conversation_id = its Discord id), so every thread has its own memory
-- and nothing is shared server-wide. role: 'user' or 'assistant'.
-- tokens is the estimate made when the turn was stored, so packing a prompt
-- never has to re-tokenise old history on the hot path.
CREATE TABLE chat_messages (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL,
    guild_id         INTEGER,
    author_id        INTEGER,
    author_name      TEXT,
    role             TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content          TEXT NOT NULL,
    tokens           INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX chat_messages_conversation ON chat_messages (conversation_id, id);
CREATE INDEX chat_messages_author ON chat_messages (guild_id, author_id);

-- Tokens spent per guild per UTC day (guild_id 0 = direct messages), for the daily budget.
CREATE TABLE chat_usage (
    guild_id  INTEGER NOT NULL,
    day       TEXT NOT NULL,
    tokens    INTEGER NOT NULL DEFAULT 0,
    requests  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, day)
) STRICT;
