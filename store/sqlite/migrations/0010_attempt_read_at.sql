-- Read-based failover (a policy's read_timeout): when a read receipt
-- arrived for an attempt (WhatsApp), in unix nanoseconds like the other
-- times; NULL when none did.
--
-- A delivered message waiting for its read receipt keeps next_at (the read
-- deadline), so it stays in messages_due and Claim finds it there: no
-- index changes.
ALTER TABLE attempts ADD COLUMN read_at INTEGER;
