-- Fewer indexes on messages. Every write of a message row changes an
-- indexed column (status, next_at or the lease), so none is a HOT update:
-- each of the three to four row versions a message goes through adds an
-- entry to every index whose predicate it matches. Measured with the
-- ingest bench and pg_stat_statements (BENCHMARKS.md), the UPDATEs of
-- Advance and RecordReceipt were the largest cost after Claim.
--
-- messages_queue replaces messages_due (next_at, id) WHERE next_at IS NOT
-- NULL and messages_pending (id) WHERE status is not final: the messages
-- that are not final are the ones either could return, so one index on
-- (next_at, id) over them serves
--   - Claim and Stats' due count: the range next_at <= now, in order
--     (the query's "status IN (...)" matches the predicate);
--   - Stats' pending count: the whole index (NULLs included: a message
--     waiting for a receipt with no deadline);
--   - Release: the pending messages, filtered by owner.
-- messages_leased (lease_owner) served Release alone, once per shutdown.
CREATE INDEX messages_queue ON messages (next_at, id) WHERE status IN ('queued', 'sending', 'sent');
DROP INDEX messages_due;
DROP INDEX messages_pending;
DROP INDEX messages_leased;

-- The indexes that stay, and the query each serves:
--   messages_pkey: Get, Advance and receipts by id, List's keyset paging
--     and accept-time bounds, Purge's id range;
--   messages_idempotency: Enqueue's ON CONFLICT and replay lookup;
--   messages_status_bad: List status=failed|expired (only failed and
--     expired rows: nothing for a delivered message);
--   messages_to_*: List's recipient search, one partial index per kind (a
--     message adds one entry per address it has, as one merged index would);
--   messages_tags: List's tag search (tags @> ARRAY[tag]).
--   attempts_pkey: Get's history, Claim's current attempt, Advance's upsert;
--   attempts_provider: RecordReceipt's lookup by the provider's id.

-- A receipt rewrites its attempt's status, error and times, none indexed:
-- with room left on the page that is a HOT update, which adds no entry to
-- the attempts' two indexes.
ALTER TABLE attempts SET (fillfactor = 80);
