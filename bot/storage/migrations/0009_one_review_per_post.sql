-- 0009: nothing twice (one review per post, one feed per address) and never silent (problems staff see).
-- matinee_url_key() is bot.urls.normalize_post_url, registered on the connection by Database.open.

-- Every entry a source has listed, and the review it is. A review's own (source, source_key)
-- is its first entry. Another feed carrying the same post, or a feed that re-keys a post (a new
-- guid for the same link), adds or moves a row here instead of making a second review.
-- content_hash is what that entry looked like when last read, so two feeds carrying different
-- text of one post never undo each other's edits on every poll.
CREATE TABLE review_keys (
    source        TEXT NOT NULL,
    source_key    TEXT NOT NULL,
    review_id     INTEGER NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    content_hash  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (source, source_key)
) STRICT;
CREATE INDEX review_keys_review ON review_keys (review_id, source);
INSERT INTO review_keys (source, source_key, review_id, content_hash)
SELECT source, source_key, id, content_hash FROM reviews;
CREATE TRIGGER reviews_first_key AFTER INSERT ON reviews BEGIN
    INSERT INTO review_keys (source, source_key, review_id, content_hash)
    VALUES (new.source, new.source_key, new.id, new.content_hash);
END;

-- A feed is one feed per address once normalised (?utm_source=…, www., http/https, a trailing
-- slash do not make another feed). Existing spellings of one address merge into the oldest row:
-- its subscriptions, builtin flag and entries; a server that followed both keeps one subscription.
ALTER TABLE feeds ADD COLUMN url_key TEXT;
UPDATE feeds SET url_key = coalesce(matinee_url_key(url), url);
CREATE TEMP TABLE feed_merge AS
SELECT f.id AS old_id, k.keep_id AS new_id
FROM feeds AS f JOIN (SELECT url_key, min(id) AS keep_id FROM feeds GROUP BY url_key) AS k ON k.url_key = f.url_key
WHERE f.id <> k.keep_id;
INSERT OR IGNORE INTO feed_subscriptions (guild_id, feed_id, channel_id, backfill, created_by, created_at)
SELECT s.guild_id, m.new_id, s.channel_id, 0, s.created_by, s.created_at
FROM feed_subscriptions AS s JOIN temp.feed_merge AS m ON m.old_id = s.feed_id;
UPDATE feeds SET builtin = 1
WHERE id IN (SELECT m.new_id FROM temp.feed_merge AS m JOIN feeds AS d ON d.id = m.old_id WHERE d.builtin = 1);
UPDATE feeds SET initialized = 1
WHERE id IN (SELECT m.new_id FROM temp.feed_merge AS m JOIN feeds AS d ON d.id = m.old_id WHERE d.initialized = 1);
UPDATE feeds SET disabled_at = NULL, failure_count = 0, first_failure_at = NULL
WHERE disabled_at IS NOT NULL
  AND id IN (SELECT m.new_id FROM temp.feed_merge AS m JOIN feeds AS d ON d.id = m.old_id WHERE d.disabled_at IS NULL);
UPDATE OR IGNORE review_keys
SET source = 'feed:' || (SELECT m.new_id FROM temp.feed_merge AS m WHERE 'feed:' || m.old_id = review_keys.source)
WHERE source IN (SELECT 'feed:' || old_id FROM temp.feed_merge);
DELETE FROM review_keys WHERE source IN (SELECT 'feed:' || old_id FROM temp.feed_merge);
UPDATE OR IGNORE reviews
SET source = 'feed:' || (SELECT m.new_id FROM temp.feed_merge AS m WHERE 'feed:' || m.old_id = reviews.source)
WHERE source IN (SELECT 'feed:' || old_id FROM temp.feed_merge);
-- A review both spellings had keeps a source no future feed can be given (feed ids may be reused).
UPDATE reviews SET source = 'merged:' || source WHERE source IN (SELECT 'feed:' || old_id FROM temp.feed_merge);
DELETE FROM feeds WHERE id IN (SELECT old_id FROM temp.feed_merge);
DROP TABLE temp.feed_merge;
CREATE UNIQUE INDEX feeds_url_key ON feeds (url_key);

-- A feed nobody reads any more starts from a fresh baseline when someone subscribes again:
-- what it lists then is history (see FeedRepository.reset_if_unread).
UPDATE feeds SET initialized = 0, etag = NULL, last_modified = NULL
WHERE builtin = 0 AND NOT EXISTS (SELECT 1 FROM feed_subscriptions AS s WHERE s.feed_id = feeds.id);

-- A review is one review per post address. Duplicates already stored (one post read from two
-- feeds) hand their entries to the oldest review of the post; their unsent announcements move
-- to it where that server has none yet. A duplicate that was never announced anywhere is removed;
-- one that was keeps its announcements, threads and comments (members' words are never merged away).
ALTER TABLE reviews ADD COLUMN url_key TEXT;
UPDATE reviews SET url_key = matinee_url_key(url) WHERE url IS NOT NULL;
CREATE INDEX reviews_url_key ON reviews (url_key, id) WHERE url_key IS NOT NULL;
CREATE TEMP TABLE review_merge AS
SELECT r.id AS old_id, k.keep_id AS new_id
FROM reviews AS r
JOIN (SELECT url_key, min(id) AS keep_id FROM reviews WHERE url_key IS NOT NULL GROUP BY url_key) AS k
  ON k.url_key = r.url_key
WHERE r.id <> k.keep_id;
UPDATE review_keys
SET review_id = (SELECT m.new_id FROM temp.review_merge AS m WHERE m.old_id = review_keys.review_id)
WHERE review_id IN (SELECT old_id FROM temp.review_merge);
UPDATE OR IGNORE announcements
SET review_id = (SELECT m.new_id FROM temp.review_merge AS m WHERE m.old_id = announcements.review_id)
WHERE state = 'pending' AND review_id IN (SELECT old_id FROM temp.review_merge);
DELETE FROM announcements WHERE state = 'pending' AND review_id IN (SELECT old_id FROM temp.review_merge);
DELETE FROM reviews
WHERE id IN (SELECT old_id FROM temp.review_merge)
  AND NOT EXISTS (SELECT 1 FROM announcements AS a WHERE a.review_id = reviews.id)
  AND NOT EXISTS (SELECT 1 FROM discussion_threads AS t WHERE t.review_id = reviews.id);
DROP TABLE temp.review_merge;

-- What staff must see, in /matinee feed list, /matinee about and the log channel.
-- kind 'announcement': a review could not be posted in channel_id; its intent stays pending.
-- kind 'thread': an announcement has no discussion thread (or the thread no opening message).
-- kind 'channel': a channel Matinee posted to was deleted; feed_id is the subscription that fell
--   back to the announcement channel (NULL: the announcement channel itself).
-- next_retry_at: when to try again (NULL: waits for staff); gave_up_at: a day of retries ran out.
-- resolution: 'retried' (it worked), 'dismissed' or 'replaced' (staff acted), 'obsolete'.
-- reported: the state last told to the server's log channel ('open', 'gave_up', 'resolved').
CREATE TABLE delivery_problems (
    id               INTEGER PRIMARY KEY,
    guild_id         INTEGER NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('announcement', 'thread', 'channel')),
    review_id        INTEGER REFERENCES reviews (id) ON DELETE CASCADE,
    feed_id          INTEGER REFERENCES feeds (id) ON DELETE CASCADE,
    channel_id       INTEGER,
    status           INTEGER,
    error            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 1,
    first_failed_at  TEXT NOT NULL,
    last_failed_at   TEXT NOT NULL,
    next_retry_at    TEXT,
    gave_up_at       TEXT,
    resolved_at      TEXT,
    resolution       TEXT,
    reported         TEXT
) STRICT;
CREATE UNIQUE INDEX delivery_problems_open
ON delivery_problems (guild_id, kind, coalesce(review_id, 0), coalesce(feed_id, 0)) WHERE resolved_at IS NULL;
CREATE INDEX delivery_problems_due ON delivery_problems (kind, next_retry_at) WHERE resolved_at IS NULL;
CREATE INDEX delivery_problems_guild ON delivery_problems (guild_id, resolved_at);
