-- The opt-out list (issue 16): a message is never sent to an address on a
-- channel of a kind the person left. One row per (address, kind); the
-- primary key serves the dispatcher's lookup by address and the API's
-- paging in (address, kind) order. created_at is unix nanoseconds.
CREATE TABLE suppressions (
    address    TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    source     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (address, kind)
) WITHOUT ROWID;
