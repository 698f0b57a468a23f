-- hooktail aggregator schema, version 1.
-- Times are INTEGER Unix microseconds (0 = unknown). Empty strings and zero
-- numbers are stored as NULL so that the partial indexes stay small.

CREATE TABLE sources (
    id        INTEGER PRIMARY KEY,
    name      TEXT    NOT NULL UNIQUE,
    -- newest event time ever ingested for the source (the timeout clock)
    newest_at INTEGER NOT NULL DEFAULT 0
);

-- One row per file content the agents read: identity is (source, fingerprint).
CREATE TABLE files (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER NOT NULL REFERENCES sources (id),
    fingerprint INTEGER NOT NULL,
    path        TEXT    NOT NULL,
    agent_id    TEXT    NOT NULL DEFAULT '',
    UNIQUE (source_id, fingerprint)
);

-- file_id's foreign key is checked at commit (deferred): an immediate one
-- makes SQLite journal every page a multi-row insert touches, to be able
-- to undo the statement alone.
CREATE TABLE entries (
    id          INTEGER PRIMARY KEY,
    file_id     INTEGER NOT NULL REFERENCES files (id) DEFERRABLE INITIALLY DEFERRED,
    byte_offset INTEGER NOT NULL,
    source_id   INTEGER NOT NULL,
    ts          INTEGER NOT NULL,
    -- the timestamp as written ('' if none); the dedupe key hashes it
    ts_raw      TEXT    NOT NULL DEFAULT '',
    level       TEXT,
    logger      TEXT,
    message     TEXT    NOT NULL,
    hook_id     TEXT,
    attempt     INTEGER NOT NULL DEFAULT 0,
    event_type  TEXT,
    repository  TEXT,
    pr_number   INTEGER,
    github_user TEXT,
    task_id     TEXT,
    task_type   TEXT,
    task_status TEXT,
    token_spend INTEGER,
    step        TEXT,
    exc_info    TEXT,
    -- bit 0: parse_error, bit 1: truncated
    flags       INTEGER NOT NULL DEFAULT 0,
    details     TEXT,
    -- JSON aggregator.Completion of a text summary line
    completion  TEXT,
    dedupe_key  INTEGER,
    UNIQUE (file_id, byte_offset)
);

CREATE INDEX entries_hook_ts   ON entries (hook_id, ts) WHERE hook_id IS NOT NULL;
CREATE INDEX entries_ts        ON entries (ts);
CREATE INDEX entries_source_ts ON entries (source_id, ts);
CREATE INDEX entries_level_ts  ON entries (level, ts);
CREATE INDEX entries_repo_ts   ON entries (repository, ts) WHERE repository IS NOT NULL;
CREATE INDEX entries_pr_ts     ON entries (pr_number, ts) WHERE pr_number IS NOT NULL;
-- The dedupe key hashes the timestamp as written, so copies share ts_raw
-- too; leading with it keeps the inserts of a batch together (a random-key
-- index would dirty a page per entry once it outgrows the cache).
CREATE INDEX entries_dedupe    ON entries (source_id, ts_raw, dedupe_key) WHERE dedupe_key IS NOT NULL;

-- JSONL webhook_summary records: not entries, but kept (with their identity)
-- so that re-ingesting one changes nothing and a hook can be re-derived.
CREATE TABLE summaries (
    id          INTEGER PRIMARY KEY,
    file_id     INTEGER NOT NULL REFERENCES files (id),
    byte_offset INTEGER NOT NULL,
    hook_id     TEXT    NOT NULL,
    ts          INTEGER NOT NULL,
    record      TEXT    NOT NULL,
    UNIQUE (file_id, byte_offset)
);
CREATE INDEX summaries_hook ON summaries (hook_id);

-- Per hook_id: the attempt timeline (aggregator.Timeline as JSON) and the
-- newest event time stored for it.
CREATE TABLE hooks (
    hook_id  TEXT    PRIMARY KEY,
    timeline TEXT    NOT NULL,
    max_ts   INTEGER NOT NULL,
    attempts INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per attempt. fold is the aggregator.AttemptFold as JSON; the other
-- columns repeat what list queries filter on. state excludes timeout, which
-- is computed at query time.
CREATE TABLE deliveries (
    hook_id       TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    source_id     INTEGER,
    state         TEXT    NOT NULL,
    has_errors    INTEGER NOT NULL,
    received_at   INTEGER NOT NULL,
    completed_at  INTEGER NOT NULL,
    last_entry_at INTEGER NOT NULL,
    event_type    TEXT,
    repository    TEXT,
    pr_number     INTEGER,
    fold          TEXT    NOT NULL,
    PRIMARY KEY (hook_id, attempt)
);
CREATE INDEX deliveries_received ON deliveries (received_at);
