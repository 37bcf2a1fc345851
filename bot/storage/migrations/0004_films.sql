-- 0004: film lookup. Catalog search index, fuzzy-match vocabulary, watchlists, leaderboard index.

-- Title search. The rowid is a *search key*, not the film id:
--     ((2147483647 - min(max(vote_count, 0), 2147483647)) << 32) + film id
-- so ascending rowid order is "most voted first". FTS5 walks a match in rowid
-- order, which makes `ORDER BY rowid LIMIT n` stop after n hits instead of
-- scoring every match: a one-letter prefix over 100k films costs ~0.1 ms
-- instead of ~50 ms for `ORDER BY rank`. film_id is stored (unindexed) beside it.
-- unicode61 with remove_diacritics 2 ignores case and accents ("amelie" finds
-- "Amélie"); prefix indexes make "c", "ch", "chu" prefix queries cheap.
CREATE VIRTUAL TABLE films_fts USING fts5 (
    title, original_title, alt_titles, film_id UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);

INSERT INTO films_fts (rowid, title, original_title, alt_titles, film_id)
SELECT ((2147483647 - min(max(f.vote_count, 0), 2147483647)) << 32) + f.id,
       f.title, coalesce(f.original_title, ''),
       coalesce((SELECT group_concat(t.title, ' / ') FROM film_titles t WHERE t.film_id = f.id), ''),
       f.id
FROM films f;

CREATE TRIGGER films_fts_ai AFTER INSERT ON films BEGIN
    INSERT INTO films_fts (rowid, title, original_title, alt_titles, film_id)
    VALUES (((2147483647 - min(max(new.vote_count, 0), 2147483647)) << 32) + new.id,
            new.title, coalesce(new.original_title, ''),
            coalesce((SELECT group_concat(t.title, ' / ') FROM film_titles t WHERE t.film_id = new.id), ''),
            new.id);
END;

CREATE TRIGGER films_fts_ad AFTER DELETE ON films BEGIN
    DELETE FROM films_fts WHERE rowid = ((2147483647 - min(max(old.vote_count, 0), 2147483647)) << 32) + old.id;
END;

CREATE TRIGGER films_fts_au AFTER UPDATE OF title, original_title, vote_count ON films BEGIN
    DELETE FROM films_fts WHERE rowid = ((2147483647 - min(max(old.vote_count, 0), 2147483647)) << 32) + old.id;
    INSERT INTO films_fts (rowid, title, original_title, alt_titles, film_id)
    VALUES (((2147483647 - min(max(new.vote_count, 0), 2147483647)) << 32) + new.id,
            new.title, coalesce(new.original_title, ''),
            coalesce((SELECT group_concat(t.title, ' / ') FROM film_titles t WHERE t.film_id = new.id), ''),
            new.id);
END;

-- Alternative titles live in film_titles; keep the film's index row current.
CREATE TRIGGER film_titles_fts_ai AFTER INSERT ON film_titles BEGIN
    UPDATE films_fts
    SET alt_titles = coalesce((SELECT group_concat(t.title, ' / ') FROM film_titles t WHERE t.film_id = new.film_id), '')
    WHERE rowid = (SELECT ((2147483647 - min(max(f.vote_count, 0), 2147483647)) << 32) + f.id
                   FROM films f WHERE f.id = new.film_id);
END;

CREATE TRIGGER film_titles_fts_ad AFTER DELETE ON film_titles BEGIN
    UPDATE films_fts
    SET alt_titles = coalesce((SELECT group_concat(t.title, ' / ') FROM film_titles t WHERE t.film_id = old.film_id), '')
    WHERE rowid = (SELECT ((2147483647 - min(max(f.vote_count, 0), 2147483647)) << 32) + f.id
                   FROM films f WHERE f.id = old.film_id);
END;

-- Exact alternative-title look-ups ("Chung Hing sam lam").
CREATE INDEX film_titles_title ON film_titles (title COLLATE NOCASE);

-- The vocabulary of title words (accent-free, case-folded, like the index), with how
-- many films use each. Typo correction ("chunking" -> "chungking") generates the
-- edit-distance-1 variants of an unknown word and looks them up here by primary
-- key; fts5vocab would be far too slow (it re-reads every doclist to count).
-- Maintained by FilmRepository writes and rebuilt after imports.
CREATE TABLE film_terms (
    term  TEXT PRIMARY KEY,
    films INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

-- A member's personal list of films to watch (not per guild: it follows the member).
CREATE TABLE watchlist (
    user_id  INTEGER NOT NULL,
    film_id  INTEGER NOT NULL REFERENCES films (id) ON DELETE CASCADE,
    added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (user_id, film_id)
) STRICT;

-- /top: ratings of one guild within a period.
CREATE INDEX film_ratings_guild_time ON film_ratings (guild_id, updated_at);

-- TMDB cache look-ups by id are covered by the UNIQUE constraints on tmdb_id/imdb_id.
