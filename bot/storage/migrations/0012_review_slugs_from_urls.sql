-- 0012: a review is known by its blog address. A review with a post URL takes the slug of the URL's
-- last path segment (bot/slugs.py); one without keeps its title's. The renaming itself is Python
-- (bot/storage/review_names.py adopt_url_slugs, run in this migration's transaction), because
-- choosing the first free "-2", "-3"… in id order is a loop SQL cannot write.

-- Every slug a review had before its current one, so links, scripts and templates that used it still
-- find it. A slug is never reused: one here belongs to its review for good (until the review is deleted).
CREATE TABLE review_slug_aliases (
    slug       TEXT PRIMARY KEY,
    review_id  INTEGER NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX review_slug_aliases_review ON review_slug_aliases (review_id);
