-- 0014: two doors, one conversation: the blog's own comments, mirrored into review threads (bot/bridge/).

-- Where a review's comments are published as a feed: its feed item's <wfw:commentRss> (WordPress:
-- the post's /feed/), an Atom <link rel="replies">, or a Markdown review's `comments_feed:`.
ALTER TABLE reviews ADD COLUMN comments_feed TEXT;

-- Where a comment comes from. 'discord': a member's message (message_id is Discord's). 'blog': a
-- blog reader's comment read from the review's comment feed; its message_id is -blog_comments.id
-- (never a Discord id), guild_id, thread_id and author_id are 0 (it belongs to the review, in every
-- server, and to no Discord user), and source_url is its anchor on the blog.
ALTER TABLE comments ADD COLUMN source TEXT NOT NULL DEFAULT 'discord' CHECK (source IN ('discord', 'blog'));
ALTER TABLE comments ADD COLUMN source_url TEXT;

-- A blog comment is in no Discord thread: it never moves a thread's backfill cursor.
DROP TRIGGER comments_thread_cursor;
CREATE TRIGGER comments_thread_cursor AFTER INSERT ON comments WHEN new.source = 'discord' BEGIN
    INSERT INTO discussion_threads (thread_id, review_id, guild_id, last_message_id)
    VALUES (new.thread_id, new.review_id, new.guild_id, new.message_id)
    ON CONFLICT (thread_id) DO UPDATE SET last_message_id = max(last_message_id, excluded.last_message_id)
    WHERE discussion_threads.backfill_owed = 0;
END;

-- The polling state of each review's comment feed (one row per review that has one). It follows
-- the review feeds' rules: conditional GETs, back-off on failure, and no flood: the first read
-- (baseline_at NULL) records what the feed lists without posting it, and only comments dated after
-- baseline_at are ever posted. post_count is the post's comment count as its own feed item last
-- said (<slash:comments>); a change makes the feed due. listed is how many comments the last read
-- listed, max_listed the most it ever listed (bot/bridge/service.py: when a missing comment counts
-- as deleted).
CREATE TABLE comment_feeds (
    review_id         INTEGER PRIMARY KEY REFERENCES reviews (id) ON DELETE CASCADE,
    url               TEXT NOT NULL,
    etag              TEXT,
    last_modified     TEXT,
    baseline_at       TEXT,
    post_count        INTEGER,
    listed            INTEGER NOT NULL DEFAULT 0,
    max_listed        INTEGER NOT NULL DEFAULT 0,
    last_fetch_at     TEXT,
    last_success_at   TEXT,
    last_error        TEXT,
    failure_count     INTEGER NOT NULL DEFAULT 0,
    first_failure_at  TEXT,
    next_poll_at      TEXT
) STRICT;
CREATE INDEX comment_feeds_due ON comment_feeds (next_poll_at);

-- Blog comments by their key in the review's comment feed (the guid, else the link, else a hash).
-- id is never reused (AUTOINCREMENT): the comment's row in comments is message_id = -id.
-- published_at is the feed's date for it, which the deletion window is decided on; version grows
-- with each edit seen on the blog (a mirror showing an older version is edited).
CREATE TABLE blog_comments (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    review_id     INTEGER NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    guid          TEXT NOT NULL,
    published_at  TEXT,
    version       INTEGER NOT NULL DEFAULT 1,
    UNIQUE (review_id, guid)
) STRICT;

-- The outbox of mirrors: "post this blog comment in this review thread", written before sending.
-- state: 'pending' (to send; attempts > 0 means a send may have reached Discord, so the thread is
-- searched first), 'sent' (message_id; webhook_id when a webhook posted it), 'deleted' (the blog
-- deleted the comment, and so did we), 'gone' (the message or thread was deleted in Discord: nothing
-- more to do), 'failed' (Discord kept refusing it; last_error says why).
-- shown_version is the comment's version the message shows. next_try_at is set while something is
-- owed (a send, an edit, a deletion), NULL when nothing is; failures counts failed tries in a row.
CREATE TABLE blog_comment_posts (
    comment_id     INTEGER NOT NULL REFERENCES blog_comments (id) ON DELETE CASCADE,
    thread_id      INTEGER NOT NULL,
    guild_id       INTEGER NOT NULL,
    channel_id     INTEGER NOT NULL,
    state          TEXT NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'sent', 'deleted', 'gone', 'failed')),
    message_id     INTEGER,
    webhook_id     INTEGER,
    nonce          TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    failures       INTEGER NOT NULL DEFAULT 0,
    shown_version  INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    next_try_at    TEXT,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (comment_id, thread_id)
) STRICT;
CREATE INDEX blog_comment_posts_message ON blog_comment_posts (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX blog_comment_posts_due ON blog_comment_posts (next_try_at) WHERE next_try_at IS NOT NULL;

-- What the public may see, now with blog comments: they are already public on the blog, so a
-- member's consent does not apply to them, but they appear only for a review that a publishing
-- server announced, and a comment staff hid from the blog stays hidden.
DROP VIEW web_public_comments;
CREATE VIEW web_public_comments AS
SELECT c.*
FROM comments AS c
JOIN web_guilds AS g ON g.guild_id = c.guild_id AND g.publish = 1
LEFT JOIN web_member_prefs AS p ON p.guild_id = c.guild_id AND p.user_id = c.author_id
WHERE c.source = 'discord' AND c.deleted = 0
  AND NOT EXISTS (SELECT 1 FROM web_hidden_comments AS h WHERE h.message_id = c.message_id)
  AND CASE g.consent_mode WHEN 'opt-in' THEN coalesce(p.show, 0) = 1 ELSE coalesce(p.show, 1) = 1 END
UNION ALL
SELECT c.*
FROM comments AS c
WHERE c.source = 'blog' AND c.deleted = 0
  AND NOT EXISTS (SELECT 1 FROM web_hidden_comments AS h WHERE h.message_id = c.message_id)
  AND EXISTS (SELECT 1 FROM announcements AS a JOIN web_guilds AS g ON g.guild_id = a.guild_id AND g.publish = 1
              WHERE a.review_id = c.review_id AND a.state = 'sent');
