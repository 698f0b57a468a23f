-- The largest entry id ever given out. SQLite gives a new row the largest
-- rowid plus one, so once the newest entries are deleted (an old file read
-- late, then aged out by its event time) their ids would be given out
-- again, and a live tail resuming after one of them would skip the new
-- entries that took them. Retention records the largest id before it
-- deletes entries; ingest starts past it.
CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) SELECT 'entries_high_id', coalesce(max(id), 0) FROM entries;
