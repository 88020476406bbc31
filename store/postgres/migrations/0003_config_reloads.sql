-- Config reload broadcasts (store.ReloadBroadcaster), one row each, so an
-- instance that was not listening when one was sent (starting, or its
-- LISTEN connection reconnecting) catches up instead of missing it. seq is
-- the generation: each instance remembers the newest it has applied.
-- BroadcastReload inserts under a table lock, so rows become visible in seq
-- order, and keeps only the newest 100 rows.
CREATE TABLE config_reloads (
    seq    bigserial   NOT NULL PRIMARY KEY,
    origin text        NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
