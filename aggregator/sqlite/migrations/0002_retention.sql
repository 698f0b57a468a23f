-- hooktail aggregator schema, version 2: what retention needs.
--
-- An entry's age is its event time (ts). When that cannot date it (unknown,
-- before 1970, or more than MaxFutureSkew (1 h) past the time the
-- aggregator received it) the entry stores its receive time in received_at
-- and is aged by that instead. Only such entries pay for the column (NULL
-- costs no payload) and for its partial index.
ALTER TABLE entries ADD COLUMN received_at INTEGER;

-- Entries stored before this version have no receive time: those the event
-- time cannot date count as received at the upgrade.
UPDATE entries SET received_at = CAST(unixepoch('subsec') * 1000000 AS INTEGER)
    WHERE ts <= 0 OR ts > CAST(unixepoch('subsec') * 1000000 AS INTEGER) + 3600000000;

CREATE INDEX entries_received ON entries (received_at) WHERE received_at IS NOT NULL;

-- A hook's (and so its deliveries') last activity: the newest age, by the
-- rule above, of anything stored for it. Retention drops a hook, with its
-- deliveries, summaries and entries, once this is past the cutoff.
ALTER TABLE hooks ADD COLUMN active_at INTEGER NOT NULL DEFAULT 0;

UPDATE hooks SET active_at = CASE
    WHEN max_ts > 0 AND max_ts <= CAST(unixepoch('subsec') * 1000000 AS INTEGER) + 3600000000
         AND hook_id NOT IN (SELECT hook_id FROM entries WHERE received_at IS NOT NULL AND hook_id IS NOT NULL)
    THEN max_ts
    ELSE CAST(unixepoch('subsec') * 1000000 AS INTEGER)
END;

CREATE INDEX hooks_active ON hooks (active_at);
