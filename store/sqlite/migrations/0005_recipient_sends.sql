-- Per-recipient limits (a policy's limits.per_recipient): one row per
-- (policy, recipient key, message) for messages accepted under a policy
-- with a limit, written by Enqueue in the same op as the message. The
-- primary key serves the count: message ids are UUIDv7, so "accepted in
-- the last hour" is an id range inside one (policy, recipient) prefix and
-- a count reads only that recipient's rows in the window, whatever the
-- table's size (TestQueryPlans checks the plan).
-- The rows go with their message (retention) by the foreign key;
-- recipient_sends_message serves that cascade.
CREATE TABLE recipient_sends (
    policy     TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    PRIMARY KEY (policy, recipient, message_id)
) WITHOUT ROWID;
CREATE INDEX recipient_sends_message ON recipient_sends (message_id);
