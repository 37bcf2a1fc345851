-- 0008: the web side — who publishes, members' consent, staff hides, and the change log.

-- Per-server publishing on the blog. Off until staff turn it on (/matinee web publish:on).
-- consent_mode: 'notice' publishes members unless they opt out; 'opt-in' only those who said yes.
CREATE TABLE web_guilds (
    guild_id      INTEGER PRIMARY KEY,
    publish       INTEGER NOT NULL DEFAULT 0 CHECK (publish IN (0, 1)),
    consent_mode  TEXT NOT NULL DEFAULT 'notice' CHECK (consent_mode IN ('notice', 'opt-in')),
    invite_url    TEXT,
    guild_name    TEXT,
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- A member's own choice (/privacy blog show|hide), per server. No row: the server's mode decides.
CREATE TABLE web_member_prefs (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    show        INTEGER NOT NULL CHECK (show IN (0, 1)),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (guild_id, user_id)
) STRICT;

-- Comments staff hid from the blog ("Hide from blog"); they stay in Discord. Who hid them is not kept.
CREATE TABLE web_hidden_comments (
    message_id  INTEGER PRIMARY KEY,
    hidden_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- What the public may see: the one definition every web read goes through.
CREATE VIEW web_public_comments AS
SELECT c.*
FROM comments AS c
JOIN web_guilds AS g ON g.guild_id = c.guild_id AND g.publish = 1
LEFT JOIN web_member_prefs AS p ON p.guild_id = c.guild_id AND p.user_id = c.author_id
WHERE c.deleted = 0
  AND NOT EXISTS (SELECT 1 FROM web_hidden_comments AS h WHERE h.message_id = c.message_id)
  AND CASE g.consent_mode WHEN 'opt-in' THEN coalesce(p.show, 0) = 1 ELSE coalesce(p.show, 1) = 1 END;

-- The change log every HTTP process tails (the bot's own and any `matinee web`). seq only
-- grows: rows are pruned from the old end, and the newest row of each review is always kept,
-- so max(seq) never goes back. kind: 'comment' (message_id says which), 'rating',
-- 'review' (the review or its announcements), 'consent' (who may be shown changed).
CREATE TABLE web_changes (
    seq         INTEGER PRIMARY KEY,
    review_id   INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    message_id  INTEGER,
    at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX web_changes_review ON web_changes (review_id, seq);

CREATE TRIGGER web_log_comment_insert AFTER INSERT ON comments BEGIN
    INSERT INTO web_changes (review_id, kind, message_id) VALUES (new.review_id, 'comment', new.message_id);
END;
-- Re-reading history stores identical rows again: only a real change is logged.
CREATE TRIGGER web_log_comment_update AFTER UPDATE ON comments
WHEN old.content IS NOT new.content OR old.edited_at IS NOT new.edited_at OR old.deleted IS NOT new.deleted
  OR old.reactions IS NOT new.reactions OR old.attachments IS NOT new.attachments
  OR old.author_name IS NOT new.author_name OR old.author_id IS NOT new.author_id
  OR old.reply_to_id IS NOT new.reply_to_id OR old.review_id IS NOT new.review_id
BEGIN
    INSERT INTO web_changes (review_id, kind, message_id) VALUES (new.review_id, 'comment', new.message_id);
END;
CREATE TRIGGER web_log_comment_delete AFTER DELETE ON comments BEGIN
    INSERT INTO web_changes (review_id, kind, message_id) VALUES (old.review_id, 'comment', old.message_id);
    DELETE FROM web_hidden_comments WHERE message_id = old.message_id;
END;

CREATE TRIGGER web_log_hide AFTER INSERT ON web_hidden_comments BEGIN
    INSERT INTO web_changes (review_id, kind, message_id)
    SELECT review_id, 'comment', message_id FROM comments WHERE message_id = new.message_id;
END;
CREATE TRIGGER web_log_show AFTER DELETE ON web_hidden_comments BEGIN
    INSERT INTO web_changes (review_id, kind, message_id)
    SELECT review_id, 'comment', message_id FROM comments WHERE message_id = old.message_id;
END;

CREATE TRIGGER web_log_vote_insert AFTER INSERT ON poll_votes BEGIN
    INSERT INTO web_changes (review_id, kind) VALUES (new.review_id, 'rating');
END;
CREATE TRIGGER web_log_vote_delete AFTER DELETE ON poll_votes BEGIN
    INSERT INTO web_changes (review_id, kind) VALUES (old.review_id, 'rating');
END;
CREATE TRIGGER web_log_poll_final AFTER UPDATE OF finalized_at ON discussion_polls BEGIN
    INSERT INTO web_changes (review_id, kind) VALUES (new.review_id, 'rating');
END;
CREATE TRIGGER web_log_film_rating_insert AFTER INSERT ON film_ratings BEGIN
    INSERT INTO web_changes (review_id, kind) SELECT id, 'rating' FROM reviews WHERE film_id = new.film_id;
END;
CREATE TRIGGER web_log_film_rating_update AFTER UPDATE ON film_ratings BEGIN
    INSERT INTO web_changes (review_id, kind) SELECT id, 'rating' FROM reviews WHERE film_id = new.film_id;
END;
CREATE TRIGGER web_log_film_rating_delete AFTER DELETE ON film_ratings BEGIN
    INSERT INTO web_changes (review_id, kind) SELECT id, 'rating' FROM reviews WHERE film_id = old.film_id;
END;

CREATE TRIGGER web_log_review_insert AFTER INSERT ON reviews BEGIN
    INSERT INTO web_changes (review_id, kind) VALUES (new.id, 'review');
END;
CREATE TRIGGER web_log_review_update AFTER UPDATE ON reviews BEGIN
    INSERT INTO web_changes (review_id, kind) VALUES (new.id, 'review');
END;
CREATE TRIGGER web_log_review_delete AFTER DELETE ON reviews BEGIN
    INSERT INTO web_changes (review_id, kind) VALUES (old.id, 'review');
END;
CREATE TRIGGER web_log_announcement_insert AFTER INSERT ON announcements BEGIN
    INSERT INTO web_changes (review_id, kind) VALUES (new.review_id, 'review');
END;
CREATE TRIGGER web_log_announcement_update AFTER UPDATE OF thread_id, state, guild_id ON announcements BEGIN
    INSERT INTO web_changes (review_id, kind) VALUES (new.review_id, 'review');
END;
CREATE TRIGGER web_log_announcement_delete AFTER DELETE ON announcements BEGIN
    INSERT INTO web_changes (review_id, kind) VALUES (old.review_id, 'review');
END;

-- Publishing, consent mode, invite or name of a server: every review discussed there.
CREATE TRIGGER web_log_guild_insert AFTER INSERT ON web_guilds BEGIN
    INSERT INTO web_changes (review_id, kind)
    SELECT DISTINCT review_id, 'consent' FROM announcements WHERE guild_id = new.guild_id;
END;
CREATE TRIGGER web_log_guild_update AFTER UPDATE ON web_guilds BEGIN
    INSERT INTO web_changes (review_id, kind)
    SELECT DISTINCT review_id, 'consent' FROM announcements WHERE guild_id = new.guild_id;
END;
CREATE TRIGGER web_log_guild_delete AFTER DELETE ON web_guilds BEGIN
    INSERT INTO web_changes (review_id, kind)
    SELECT DISTINCT review_id, 'consent' FROM announcements WHERE guild_id = old.guild_id;
END;

-- A member's choice: every review they commented on in that server.
CREATE TRIGGER web_log_pref_insert AFTER INSERT ON web_member_prefs BEGIN
    INSERT INTO web_changes (review_id, kind)
    SELECT DISTINCT review_id, 'consent' FROM comments WHERE guild_id = new.guild_id AND author_id = new.user_id;
END;
CREATE TRIGGER web_log_pref_update AFTER UPDATE ON web_member_prefs BEGIN
    INSERT INTO web_changes (review_id, kind)
    SELECT DISTINCT review_id, 'consent' FROM comments WHERE guild_id = new.guild_id AND author_id = new.user_id;
END;
CREATE TRIGGER web_log_pref_delete AFTER DELETE ON web_member_prefs BEGIN
    INSERT INTO web_changes (review_id, kind)
    SELECT DISTINCT review_id, 'consent' FROM comments WHERE guild_id = old.guild_id AND author_id = old.user_id;
END;
