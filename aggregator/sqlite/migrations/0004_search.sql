-- hooktail aggregator schema, version 4: the full API (SPEC §5).
-- (Version 3 is the exports migration.)

-- Full-text index of the entries' messages for EntryFilter.Search and
-- DeliveryFilter.Search: FTS4 (compiled into mattn/go-sqlite3 by default,
-- no build tag), external content (the text stays in entries only), the
-- unicode61 tokenizer (case folding for all of Unicode, diacritics
-- removed). Ingest indexes the entries a batch inserted with one
-- INSERT … SELECT at the end of the batch (a per-row insert trigger costs
-- four times as much per entry); triggers keep the index in step with
-- every delete and message update of entries, whoever makes them
-- (retention).
CREATE VIRTUAL TABLE entries_fts USING fts4(
    content="entries", message, tokenize=unicode61 "remove_diacritics=2");
INSERT INTO entries_fts (entries_fts) VALUES ('rebuild');

-- External content: the index reads the old text from entries to remove
-- its terms, so deletes and updates go first.
CREATE TRIGGER entries_fts_delete BEFORE DELETE ON entries BEGIN
    DELETE FROM entries_fts WHERE docid = old.id;
END;
CREATE TRIGGER entries_fts_before_update BEFORE UPDATE OF message ON entries BEGIN
    DELETE FROM entries_fts WHERE docid = old.id;
END;
CREATE TRIGGER entries_fts_after_update AFTER UPDATE OF message ON entries BEGIN
    INSERT INTO entries_fts (docid, message) VALUES (new.id, new.message);
END;

CREATE INDEX entries_event_ts ON entries (event_type, ts) WHERE event_type IS NOT NULL;

-- latest is 1 on the newest attempt of each hook_id (the one the
-- deliveries list shows), NULL on the others; ingest maintains it. The
-- list's indexes cover only latest attempts.
ALTER TABLE deliveries ADD COLUMN latest INTEGER;
UPDATE deliveries SET latest = 1
    WHERE attempt = (SELECT max(d2.attempt) FROM deliveries d2 WHERE d2.hook_id = deliveries.hook_id);

CREATE INDEX deliveries_latest_received ON deliveries (received_at, hook_id) WHERE latest = 1;
CREATE INDEX deliveries_latest_source   ON deliveries (source_id, received_at) WHERE latest = 1;
CREATE INDEX deliveries_latest_state    ON deliveries (state, received_at) WHERE latest = 1;
CREATE INDEX deliveries_latest_errors   ON deliveries (has_errors, received_at) WHERE latest = 1;
CREATE INDEX deliveries_latest_repo     ON deliveries (repository, received_at) WHERE latest = 1 AND repository IS NOT NULL;
CREATE INDEX deliveries_latest_event    ON deliveries (event_type, received_at) WHERE latest = 1 AND event_type IS NOT NULL;
CREATE INDEX deliveries_latest_pr       ON deliveries (pr_number, received_at) WHERE latest = 1 AND pr_number IS NOT NULL;
