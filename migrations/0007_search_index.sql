-- Search as you type answered from a trigram index instead of testing every current row with
-- LIKE (scripts/bench: "?q=555" over 10,000 caller IDs). A trigram index finds any substring of
-- three characters or more; shorter searches, and searches that include removed caller IDs,
-- still read the rows.
--
-- It indexes the current rows only, so that counting the matches reads the index alone. The
-- text itself stays in caller_ids (external content): the triggers below hand the index each
-- row's old and new values.
CREATE VIRTUAL TABLE caller_ids_search USING fts5(
    alias_folded, digits, national_digits,
    content = 'caller_ids', content_rowid = 'id', tokenize = 'trigram'
);

INSERT INTO caller_ids_search (rowid, alias_folded, digits, national_digits)
    SELECT id, alias_folded, digits, national_digits FROM caller_ids WHERE removed_at IS NULL;

CREATE TRIGGER caller_ids_search_insert AFTER INSERT ON caller_ids
WHEN NEW.removed_at IS NULL
BEGIN
    INSERT INTO caller_ids_search (rowid, alias_folded, digits, national_digits)
        VALUES (NEW.id, NEW.alias_folded, NEW.digits, NEW.national_digits);
END;

CREATE TRIGGER caller_ids_search_delete AFTER DELETE ON caller_ids
WHEN OLD.removed_at IS NULL
BEGIN
    INSERT INTO caller_ids_search (caller_ids_search, rowid, alias_folded, digits, national_digits)
        VALUES ('delete', OLD.id, OLD.alias_folded, OLD.digits, OLD.national_digits);
END;

CREATE TRIGGER caller_ids_search_update
AFTER UPDATE OF alias_folded, digits, national_digits, removed_at ON caller_ids
-- A sync rewrites every row it sees; only a change that the index holds costs index work.
WHEN OLD.alias_folded IS NOT NEW.alias_folded
    OR OLD.digits IS NOT NEW.digits
    OR OLD.national_digits IS NOT NEW.national_digits
    OR (OLD.removed_at IS NULL) IS NOT (NEW.removed_at IS NULL)
BEGIN
    INSERT INTO caller_ids_search (caller_ids_search, rowid, alias_folded, digits, national_digits)
        SELECT 'delete', OLD.id, OLD.alias_folded, OLD.digits, OLD.national_digits
        WHERE OLD.removed_at IS NULL;
    INSERT INTO caller_ids_search (rowid, alias_folded, digits, national_digits)
        SELECT NEW.id, NEW.alias_folded, NEW.digits, NEW.national_digits
        WHERE NEW.removed_at IS NULL;
END;
