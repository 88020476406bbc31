-- Read-based failover (a policy's read_timeout): when a read receipt
-- arrived for an attempt (WhatsApp); NULL when none did.
ALTER TABLE attempts ADD COLUMN read_at timestamptz;

-- A delivered message waiting for its read receipt keeps next_at (the read
-- deadline). messages_queue covers only statuses that are not final, so
-- Claim finds these through their own index, which holds only the
-- messages waiting for a read (a delivered message with no read deadline
-- has next_at NULL and adds no entry).
CREATE INDEX messages_unread ON messages (next_at, id) WHERE status = 'delivered' AND next_at IS NOT NULL;
