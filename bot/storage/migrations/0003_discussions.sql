-- 0003: discussion threads — backfill cursors, rating polls and their final counts.

-- One row per review discussion thread. last_message_id is the backfill cursor: the
-- newest member message ever stored for the thread. It only moves forward (a
-- trigger on comments keeps it), so erasing comments (/forget-me) never makes a
-- backfill fetch and store them again.
CREATE TABLE discussion_threads (
    thread_id           INTEGER PRIMARY KEY,
    review_id           INTEGER NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    guild_id            INTEGER NOT NULL,
    opening_message_id  INTEGER,
    last_message_id     INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX discussion_threads_review ON discussion_threads (review_id, guild_id);

CREATE TRIGGER comments_thread_cursor AFTER INSERT ON comments BEGIN
    INSERT INTO discussion_threads (thread_id, review_id, guild_id, last_message_id)
    VALUES (new.thread_id, new.review_id, new.guild_id, new.message_id)
    ON CONFLICT (thread_id) DO UPDATE SET last_message_id = max(last_message_id, excluded.last_message_id);
END;

-- The star-rating polls Matinee posted, so votes on members' own polls are ignored.
CREATE TABLE discussion_polls (
    message_id    INTEGER PRIMARY KEY,
    review_id     INTEGER NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    guild_id      INTEGER NOT NULL,
    thread_id     INTEGER NOT NULL,
    expires_at    TEXT,
    finalized_at  TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX discussion_polls_review ON discussion_polls (review_id);

-- Per-answer counts Discord reported when the poll ended (answer_id 1..5 = ★..★★★★★).
CREATE TABLE poll_results (
    message_id  INTEGER NOT NULL REFERENCES discussion_polls (message_id) ON DELETE CASCADE,
    answer_id   INTEGER NOT NULL CHECK (answer_id BETWEEN 1 AND 10),
    votes       INTEGER NOT NULL CHECK (votes >= 0),
    PRIMARY KEY (message_id, answer_id)
) STRICT;
