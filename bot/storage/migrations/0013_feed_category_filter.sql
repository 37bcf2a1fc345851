-- 0013: a server may follow a feed for one category only (`/matinee feed add category:`): of a whole-site
-- feed, only the entries listed under that category (or tag) are reviews for it. NULL: every entry.
ALTER TABLE feed_subscriptions ADD COLUMN category TEXT;
