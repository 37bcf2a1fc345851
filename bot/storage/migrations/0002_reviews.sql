-- 0002: review sources (feeds, subscriptions) and the announcement outbox.

-- One row per distinct feed URL, shared by every guild that subscribes to it,
-- so a feed is fetched once per poll however many guilds read it.
-- builtin = 1 for feeds from REVIEW_FEEDS, which every configured guild receives.
CREATE TABLE feeds (
    id                INTEGER PRIMARY KEY,
    url               TEXT NOT NULL UNIQUE,
    builtin           INTEGER NOT NULL DEFAULT 0,
    title             TEXT,
    etag              TEXT,
    last_modified     TEXT,
    -- 0 until the first successful fetch, which records entries without announcing them.
    initialized       INTEGER NOT NULL DEFAULT 0,
    last_fetch_at     TEXT,
    last_success_at   TEXT,
    last_error        TEXT,
    failure_count     INTEGER NOT NULL DEFAULT 0,
    first_failure_at  TEXT,
    next_poll_at      TEXT,
    disabled_at       TEXT,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- Which guild reads which feed, and where (channel_id NULL = the guild's announce channel).
-- backfill: how many of the newest entries to announce once the feed has been read.
CREATE TABLE feed_subscriptions (
    guild_id    INTEGER NOT NULL,
    feed_id     INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    channel_id  INTEGER,
    backfill    INTEGER NOT NULL DEFAULT 0,
    created_by  INTEGER,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (guild_id, feed_id)
) STRICT;
CREATE INDEX feed_subscriptions_feed ON feed_subscriptions (feed_id);

-- Outbox bookkeeping: attempts > 0 means a send may have reached Discord, so the
-- intent is reconciled against the channel before it is sent again.
ALTER TABLE announcements ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE announcements ADD COLUMN last_error TEXT;
CREATE INDEX announcements_pending ON announcements (guild_id, created_at) WHERE state = 'pending';
CREATE INDEX reviews_source ON reviews (source, published_at);
