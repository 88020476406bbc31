-- Ops overrides (disable/enable a channel), kept so they survive a restart.
CREATE TABLE channel_overrides (
    channel    TEXT    NOT NULL PRIMARY KEY,
    disabled   INTEGER NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    updated_by TEXT    NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
