-- 0001: the core schema every feature builds on.
-- Feature migrations (0002 reviews, 0003 discussions, 0004 films, 0005 chat) add their own tables.

-- Small key/value facts about this deployment (e.g. the synced command-tree hash).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Per-guild configuration, one row per guild that has run /matinee setup.
CREATE TABLE guild_settings (
    guild_id               INTEGER PRIMARY KEY,
    announce_channel_id    INTEGER,
    ping_role_id           INTEGER,
    log_channel_id         INTEGER,
    forum_tag_id           INTEGER,
    auto_archive_minutes   INTEGER NOT NULL DEFAULT 10080,
    persona                TEXT,
    created_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- The film catalog. List-valued fields are JSON arrays of strings.
CREATE TABLE films (
    id              INTEGER PRIMARY KEY,
    title           TEXT NOT NULL,
    original_title  TEXT,
    year            INTEGER,
    directors       TEXT NOT NULL DEFAULT '[]',
    cast_members    TEXT NOT NULL DEFAULT '[]',
    runtime_minutes INTEGER,
    genres          TEXT NOT NULL DEFAULT '[]',
    overview        TEXT,
    poster_url      TEXT,
    tmdb_id         INTEGER UNIQUE,
    imdb_id         TEXT UNIQUE,
    popularity      REAL NOT NULL DEFAULT 0,
    vote_count      INTEGER NOT NULL DEFAULT 0,
    source          TEXT NOT NULL DEFAULT 'local',
    fetched_at      TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX films_title_year ON films (title COLLATE NOCASE, year);

-- Alternative titles ("Chung Hing sam lam" for "Chungking Express").
CREATE TABLE film_titles (
    film_id INTEGER NOT NULL REFERENCES films (id) ON DELETE CASCADE,
    title   TEXT NOT NULL,
    PRIMARY KEY (film_id, title)
) STRICT;

-- Reviews from every source. (source, source_key) is the stable dedupe key:
-- source is 'feed:<feed id>', 'markdown' or 'discord'.
CREATE TABLE reviews (
    id            INTEGER PRIMARY KEY,
    source        TEXT NOT NULL,
    source_key    TEXT NOT NULL,
    slug          TEXT NOT NULL UNIQUE,
    title         TEXT NOT NULL,
    url           TEXT,
    author        TEXT,
    film_title    TEXT,
    film_year     INTEGER,
    film_id       INTEGER REFERENCES films (id) ON DELETE SET NULL,
    rating        REAL,
    excerpt       TEXT NOT NULL DEFAULT '',
    body_md       TEXT NOT NULL DEFAULT '',
    image_url     TEXT,
    tags          TEXT NOT NULL DEFAULT '[]',
    spoilers      INTEGER NOT NULL DEFAULT 0,
    published_at  TEXT,
    content_hash  TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (source, source_key)
) STRICT;
CREATE INDEX reviews_film ON reviews (film_id);
CREATE INDEX reviews_published ON reviews (published_at);

-- Where each review was announced. state: 'pending' (intent written, not yet
-- confirmed sent) or 'sent'. thread_id is the review's discussion thread.
CREATE TABLE announcements (
    review_id    INTEGER NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    guild_id     INTEGER NOT NULL,
    channel_id   INTEGER NOT NULL,
    message_id   INTEGER,
    thread_id    INTEGER,
    nonce        TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent')),
    spoiler      INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    sent_at      TEXT,
    PRIMARY KEY (review_id, guild_id)
) STRICT;
CREATE UNIQUE INDEX announcements_thread ON announcements (thread_id) WHERE thread_id IS NOT NULL;
CREATE INDEX announcements_message ON announcements (message_id);

-- Member messages in review threads: the review's comments.
CREATE TABLE comments (
    message_id    INTEGER PRIMARY KEY,
    review_id     INTEGER NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    guild_id      INTEGER NOT NULL,
    thread_id     INTEGER NOT NULL,
    author_id     INTEGER NOT NULL,
    author_name   TEXT NOT NULL,
    content       TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    edited_at     TEXT,
    reply_to_id   INTEGER,
    attachments   TEXT NOT NULL DEFAULT '[]',
    reactions     TEXT NOT NULL DEFAULT '{}',
    deleted       INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX comments_review ON comments (review_id, created_at);
CREATE INDEX comments_thread ON comments (thread_id, message_id);
CREATE INDEX comments_author ON comments (guild_id, author_id);

-- Full-text search over reviews and comments (retrieval for /reviews and chat).
-- External-content tables kept in sync by triggers; unicode61 with diacritics
-- removed, so "amelie" finds "Amélie".
CREATE VIRTUAL TABLE reviews_fts USING fts5 (
    title, film_title, body_md,
    content = 'reviews', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER reviews_fts_ai AFTER INSERT ON reviews BEGIN
    INSERT INTO reviews_fts (rowid, title, film_title, body_md)
    VALUES (new.id, new.title, coalesce(new.film_title, ''), new.body_md);
END;
CREATE TRIGGER reviews_fts_ad AFTER DELETE ON reviews BEGIN
    INSERT INTO reviews_fts (reviews_fts, rowid, title, film_title, body_md)
    VALUES ('delete', old.id, old.title, coalesce(old.film_title, ''), old.body_md);
END;
CREATE TRIGGER reviews_fts_au AFTER UPDATE OF title, film_title, body_md ON reviews BEGIN
    INSERT INTO reviews_fts (reviews_fts, rowid, title, film_title, body_md)
    VALUES ('delete', old.id, old.title, coalesce(old.film_title, ''), old.body_md);
    INSERT INTO reviews_fts (rowid, title, film_title, body_md)
    VALUES (new.id, new.title, coalesce(new.film_title, ''), new.body_md);
END;

CREATE VIRTUAL TABLE comments_fts USING fts5 (
    content,
    content = 'comments', content_rowid = 'message_id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER comments_fts_ai AFTER INSERT ON comments BEGIN
    INSERT INTO comments_fts (rowid, content) VALUES (new.message_id, new.content);
END;
CREATE TRIGGER comments_fts_ad AFTER DELETE ON comments BEGIN
    INSERT INTO comments_fts (comments_fts, rowid, content) VALUES ('delete', old.message_id, old.content);
END;
CREATE TRIGGER comments_fts_au AFTER UPDATE OF content ON comments BEGIN
    INSERT INTO comments_fts (comments_fts, rowid, content) VALUES ('delete', old.message_id, old.content);
    INSERT INTO comments_fts (rowid, content) VALUES (new.message_id, new.content);
END;

-- Star-rating poll votes in discussion threads (answer_id 1..5 = ★..★★★★★).
CREATE TABLE poll_votes (
    message_id INTEGER NOT NULL,
    review_id  INTEGER NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    answer_id  INTEGER NOT NULL CHECK (answer_id BETWEEN 1 AND 10),
    voted_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (message_id, user_id, answer_id)
) STRICT;
CREATE INDEX poll_votes_review ON poll_votes (review_id);
CREATE INDEX poll_votes_user ON poll_votes (guild_id, user_id);

-- Members' film ratings (0.5..5 stars). One per member per film per guild;
-- source 'rate' (/rate) or 'poll' (a discussion-thread poll vote).
CREATE TABLE film_ratings (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    film_id    INTEGER NOT NULL REFERENCES films (id) ON DELETE CASCADE,
    stars      REAL NOT NULL CHECK (stars >= 0.5 AND stars <= 5.0),
    source     TEXT NOT NULL DEFAULT 'rate' CHECK (source IN ('rate', 'poll')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (guild_id, user_id, film_id)
) STRICT;
CREATE INDEX film_ratings_film ON film_ratings (film_id, guild_id);
