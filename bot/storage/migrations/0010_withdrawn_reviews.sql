-- 0010: reviews withdrawn from the blog. A Markdown review whose file was deleted (and not moved:
-- see ReviewService.scan_markdown) is kept, with its announcements, threads and comments, but marked
-- withdrawn: it leaves every listing (/reviews, autocompletes, film cards, chat grounding, the web
-- widget and API, `matinee export --all`). A file that comes back clears the mark.
ALTER TABLE reviews ADD COLUMN withdrawn_at TEXT;

-- What listings read: the reviews the blog still publishes. Look-ups by id, slug, URL or entry
-- (delivery, edits, a thread's own review) read `reviews` and see withdrawn ones too.
CREATE VIEW published_reviews AS SELECT * FROM reviews WHERE withdrawn_at IS NULL;
