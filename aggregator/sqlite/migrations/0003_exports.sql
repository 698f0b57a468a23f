-- hooktail aggregator schema, version 3: export jobs (SPEC §5.4).
--
-- One row per job. request is the canonical JSON of the export.Request
-- (format, filter with the requester's scope) and body_hash its digest:
-- re-posting an exportId with another request is a conflict. Times are
-- INTEGER Unix microseconds, 0 = not yet. file is the file's name in
-- data_dir/exports once completed, '' before and after expiry.
--
-- The deliveries an export reads need no index of their own: it pages
-- through the latest attempts by (received_at, hook_id), the order of
-- deliveries_latest_received (version 4).
CREATE TABLE exports (
    id           TEXT    PRIMARY KEY,
    request      TEXT    NOT NULL,
    body_hash    TEXT    NOT NULL,
    owner        TEXT    NOT NULL DEFAULT '',
    status       TEXT    NOT NULL,
    row_count    INTEGER NOT NULL DEFAULT 0,
    file         TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    completed_at INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER NOT NULL DEFAULT 0,
    error        TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- The runner's lookups: jobs still processing (at start), completed jobs
-- past their expiry (the janitor), old expired and failed jobs (purge).
CREATE INDEX exports_status_expires ON exports (status, expires_at);
