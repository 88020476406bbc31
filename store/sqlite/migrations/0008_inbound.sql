-- Inbound messages: what people send to the gateway's channels (replies,
-- STOP), stored for GET /v1/inbound and reported to the app's
-- inbound.callback_url through the callback outbox (store.InboundStore).
CREATE TABLE inbound (
    id                   TEXT    NOT NULL PRIMARY KEY,
    channel              TEXT    NOT NULL,
    kind                 TEXT    NOT NULL,
    from_addr            TEXT    NOT NULL,
    to_addr              TEXT    NOT NULL DEFAULT '',
    text                 TEXT    NOT NULL DEFAULT '',
    provider_id          TEXT    NOT NULL DEFAULT '',
    reply_to_provider_id TEXT    NOT NULL DEFAULT '',
    reply_to             TEXT    NOT NULL DEFAULT '',
    received_at          INTEGER NOT NULL
);
-- A provider's retry of the same message is recognised by its id.
CREATE UNIQUE INDEX inbound_provider ON inbound (channel, provider_id) WHERE provider_id <> '';
-- GET /v1/inbound's filters, newest first.
CREATE INDEX inbound_channel ON inbound (channel, id);
CREATE INDEX inbound_from ON inbound (from_addr, id);

-- The callback outbox also carries inbound messages' callbacks: a row
-- belongs to a message (message_id) or to an inbound message (inbound_id).
-- SQLite cannot relax a NOT NULL column in place, so the table is rebuilt
-- with the same rows, ids and indexes.
CREATE TABLE callbacks_v8 (
    id          INTEGER PRIMARY KEY,
    message_id  TEXT    REFERENCES messages (id) ON DELETE CASCADE,
    url         TEXT    NOT NULL,
    scope       TEXT    NOT NULL DEFAULT '',
    payload     TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'pending',
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    next_at     INTEGER,
    finished_at INTEGER,
    lease_owner TEXT    NOT NULL DEFAULT '',
    lease_until INTEGER,
    inbound_id  TEXT    REFERENCES inbound (id) ON DELETE CASCADE,
    CHECK ((message_id IS NULL) <> (inbound_id IS NULL))
);
INSERT INTO callbacks_v8 (id, message_id, url, scope, payload, status, attempts, last_error,
        created_at, next_at, finished_at, lease_owner, lease_until)
    SELECT id, message_id, url, scope, payload, status, attempts, last_error,
        created_at, next_at, finished_at, lease_owner, lease_until FROM callbacks;
DROP TABLE callbacks;
ALTER TABLE callbacks_v8 RENAME TO callbacks;
CREATE INDEX callbacks_due ON callbacks (next_at, id) WHERE status = 'pending';
CREATE INDEX callbacks_message ON callbacks (message_id, id);
