-- Per-recipient limits (a policy's limits.per_recipient): one row per
-- (policy, recipient key, message) for messages accepted under a policy
-- with a limit, written by Enqueue in the message's transaction. The
-- primary key serves the count: message ids are UUIDv7, so "accepted in
-- the last hour" is an id range inside one (policy, recipient) prefix.
-- The rows go with their message (retention) by the foreign key;
-- recipient_sends_message serves that cascade. COLLATE "C": ids compare
-- bytewise, as IDFloor needs.
CREATE TABLE recipient_sends (
    policy     text COLLATE "C" NOT NULL,
    recipient  text COLLATE "C" NOT NULL,
    message_id text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    PRIMARY KEY (policy, recipient, message_id)
);
CREATE INDEX recipient_sends_message ON recipient_sends (message_id);
