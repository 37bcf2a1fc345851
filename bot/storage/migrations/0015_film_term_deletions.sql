-- 0015: typo correction by deletion neighbourhood ("symmetric delete") instead of generating every one-edit
-- spelling of the word a member typed and looking each up (~600 look-ups for an 8-letter word; most of a
-- typo keystroke's cost). Each vocabulary word is stored under itself and under each spelling with one of
-- its letters deleted. A typed word then needs only itself and its own one-letter deletions (9 keys for an
-- 8-letter word): every word one edit away (a letter deleted, inserted, replaced or two swapped) shares one
-- of those keys. Some words two edits away share one too; the caller keeps only true one-edit neighbours.
CREATE TABLE film_term_deletions (
    variant TEXT NOT NULL,
    term    TEXT NOT NULL,
    PRIMARY KEY (variant, term)
) STRICT, WITHOUT ROWID;

-- The positions 1..length(term), without a recursive CTE (which triggers may not use): zeroblob(n) in hex is
-- n "00"s, rewritten as the JSON array [0,0,…], whose json_each keys are 0..n-1.
INSERT OR IGNORE INTO film_term_deletions (variant, term)
SELECT substr(t.term, 1, p.key) || substr(t.term, p.key + 2), t.term
FROM film_terms t, json_each('[' || substr(replace(hex(zeroblob(length(t.term))), '00', ',0'), 2) || ']') p
UNION ALL SELECT term, term FROM film_terms;

CREATE TRIGGER film_terms_deletions_ai AFTER INSERT ON film_terms BEGIN
    INSERT OR IGNORE INTO film_term_deletions (variant, term)
    SELECT substr(new.term, 1, p.key) || substr(new.term, p.key + 2), new.term
    FROM json_each('[' || substr(replace(hex(zeroblob(length(new.term))), '00', ',0'), 2) || ']') p
    UNION ALL SELECT new.term, new.term;
END;

CREATE TRIGGER film_terms_deletions_ad AFTER DELETE ON film_terms BEGIN
    DELETE FROM film_term_deletions
    WHERE term = old.term AND variant IN (
        SELECT substr(old.term, 1, p.key) || substr(old.term, p.key + 2)
        FROM json_each('[' || substr(replace(hex(zeroblob(length(old.term))), '00', ',0'), 2) || ']') p
        UNION ALL SELECT old.term
    );
END;

CREATE TRIGGER film_terms_deletions_au AFTER UPDATE OF term ON film_terms BEGIN
    DELETE FROM film_term_deletions
    WHERE term = old.term AND variant IN (
        SELECT substr(old.term, 1, p.key) || substr(old.term, p.key + 2)
        FROM json_each('[' || substr(replace(hex(zeroblob(length(old.term))), '00', ',0'), 2) || ']') p
        UNION ALL SELECT old.term
    );
    INSERT OR IGNORE INTO film_term_deletions (variant, term)
    SELECT substr(new.term, 1, p.key) || substr(new.term, p.key + 2), new.term
    FROM json_each('[' || substr(replace(hex(zeroblob(length(new.term))), '00', ',0'), 2) || ']') p
    UNION ALL SELECT new.term, new.term;
END;
