-- Times are INTEGER unix nanoseconds (UTC); NULL means "not set".
--
-- Every index below is maintained by the single writer on every write, so
-- the set is kept to what a query needs (each is checked with EXPLAIN QUERY
-- PLAN in sqlite_test.go). messages is WITHOUT ROWID: the table is the id
-- b-tree itself, so a lookup by id is one seek and an insert writes one
-- b-tree fewer than a rowid table with a TEXT primary key.
-- Recipient columns are NULL when empty so the partial indexes below stay
-- small and `to_x = ?` implies their `to_x IS NOT NULL` condition.
CREATE TABLE messages (
    id               TEXT    NOT NULL PRIMARY KEY,
    idem_scope       TEXT    NOT NULL DEFAULT '',
    idem_key         TEXT    NOT NULL DEFAULT '',
    request_hash     TEXT    NOT NULL DEFAULT '',
    policy           TEXT    NOT NULL DEFAULT '',
    route            TEXT    NOT NULL DEFAULT '[]',
    to_phone         TEXT,
    to_whatsapp      TEXT,
    to_email         TEXT,
    to_telegram      TEXT,
    body             TEXT    NOT NULL DEFAULT '',
    subject          TEXT    NOT NULL DEFAULT '',
    tags             TEXT    NOT NULL DEFAULT '[]',
    metadata         TEXT    NOT NULL DEFAULT '{}',
    callback_url     TEXT    NOT NULL DEFAULT '',
    status           TEXT    NOT NULL,
    channel          TEXT    NOT NULL DEFAULT '',
    step             INTEGER NOT NULL DEFAULT 0,
    tries            INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    duplicate        INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    expires_at       INTEGER,
    next_at          INTEGER,
    lease_owner      TEXT    NOT NULL DEFAULT '',
    lease_until      INTEGER,
    -- RETURNING only sees new values, so Claim stashes the owner it took the
    -- lease from here to report Reclaimed.
    prev_lease_owner TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE UNIQUE INDEX messages_idempotency ON messages (idem_scope, idem_key) WHERE idem_key <> '';
-- Claim and Stats walk due messages in next_at order; final and waiting
-- messages have next_at NULL and stay out of the index.
-- Release finds an owner's leases through it too: a lease is only ever
-- taken on a due row (Claim, pre-claimed Enqueue), and a leased row leaves
-- this index only by becoming final, when its lease no longer matters.
CREATE INDEX messages_due ON messages (next_at, id) WHERE next_at IS NOT NULL;
-- Support filters on the rare final statuses that need attention; a row
-- enters this index once, when it fails or expires, and a late delivery
-- takes it out again. (An OR, not IN: SQLite proves that "status =
-- 'failed'" implies an OR of terms, not an IN list.) Other status filters
-- walk the primary key newest first: most rows are delivered, and
-- queued/sending/sent are the newest.
CREATE INDEX messages_status_bad ON messages (status, id) WHERE status = 'failed' OR status = 'expired';
CREATE INDEX messages_to_phone ON messages (to_phone, id) WHERE to_phone IS NOT NULL;
CREATE INDEX messages_to_whatsapp ON messages (to_whatsapp, id) WHERE to_whatsapp IS NOT NULL;
CREATE INDEX messages_to_email ON messages (to_email, id) WHERE to_email IS NOT NULL;
CREATE INDEX messages_to_telegram ON messages (to_telegram, id) WHERE to_telegram IS NOT NULL;

-- The dashboard's tag search: one row per (tag, message), written by
-- Enqueue in the same op as the message (tags never change after).
-- WITHOUT ROWID: the primary key is the index, walked newest first for one
-- tag. No foreign key: the check would cost every insert a lookup, and a
-- cascade would need a second index; a future retention job deletes a
-- message's tags with the message. (A trigger parsing the tags JSON with
-- json_each did the same at twice the cost per enqueue.)
CREATE TABLE message_tags (
    tag        TEXT NOT NULL,
    message_id TEXT NOT NULL,
    PRIMARY KEY (tag, message_id)
) WITHOUT ROWID;

CREATE TABLE attempts (
    message_id   TEXT    NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    step         INTEGER NOT NULL DEFAULT 0,
    channel      TEXT    NOT NULL DEFAULT '',
    status       TEXT    NOT NULL,
    provider_id  TEXT    NOT NULL DEFAULT '',
    error_class  TEXT    NOT NULL DEFAULT '',
    error        TEXT    NOT NULL DEFAULT '',
    info         TEXT    NOT NULL DEFAULT '',
    reason       TEXT    NOT NULL DEFAULT '',
    ambiguous    INTEGER NOT NULL DEFAULT 0,
    late         INTEGER NOT NULL DEFAULT 0,
    started_at   INTEGER,
    ended_at     INTEGER,
    delivered_at INTEGER,
    PRIMARY KEY (message_id, seq)
) WITHOUT ROWID;

-- Receipts find their attempt by the provider's id.
CREATE INDEX attempts_provider ON attempts (channel, provider_id) WHERE provider_id <> '';
