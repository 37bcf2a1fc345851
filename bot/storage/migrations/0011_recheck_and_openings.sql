-- 0011: the background re-check of older comments; an opening message sent at most once.

-- After downtime the newest comments of each open thread are re-read at once (the
-- quick re-check); older ones are re-read in the background, a page at a time, newest
-- to oldest (bot/discussions/recheck.py). recheck_before is where that walk is: the
-- messages older than it are still to be re-read; NULL when nothing is owed.
-- recheck_until is set when another gap opened while a walk was under way: the walk
-- then goes on to the thread's start (what the earlier gap still owed), continues from
-- the thread's newest message, and stops at recheck_until (where it was when the new
-- gap opened). A restart therefore resumes where the walk stopped, and every message
-- is still re-read once after the latest gap.
ALTER TABLE discussion_threads ADD COLUMN recheck_before INTEGER;
ALTER TABLE discussion_threads ADD COLUMN recheck_until INTEGER;

-- How many times the opening message (with its poll) was sent without its id being
-- stored: once it is above 0, a send may have reached Discord before a crash or a lost
-- response, so the thread is searched for the bot's own opening before sending again.
ALTER TABLE discussion_threads ADD COLUMN opening_attempts INTEGER NOT NULL DEFAULT 0;
