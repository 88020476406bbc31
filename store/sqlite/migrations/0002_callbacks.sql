-- Status callbacks: a durable outbox written in the same transaction as the
-- status change it reports (store.CallbackOutbox).
--
-- callback_status is the message status the outbox last got a row for, so
-- Advance's one-statement UPDATE can tell from its RETURNING (new values
-- only) whether the status changed. Existing messages count as reported.
ALTER TABLE messages ADD COLUMN callback_status TEXT NOT NULL DEFAULT '';
UPDATE messages SET callback_status = status WHERE callback_url <> '';

CREATE TABLE callbacks (
    id          INTEGER PRIMARY KEY,
    message_id  TEXT    NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
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
    lease_until INTEGER
);

-- ClaimCallbacks walks the due pending rows in next_at order; a row leaves
-- the index once delivered or given up.
CREATE INDEX callbacks_due ON callbacks (next_at, id) WHERE status = 'pending';
-- A message's callbacks, oldest first: GET /v1/messages/{id}, and Claim's
-- "no older pending callback of the same message" check (per-message order).
CREATE INDEX callbacks_message ON callbacks (message_id, id);
