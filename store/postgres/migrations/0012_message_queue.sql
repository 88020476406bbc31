-- Updates of a message row that add no index entries (HOT).
--
-- Every write of a message changed an indexed column: status (in the
-- predicates of messages_queue and messages_status_bad), next_at (the key
-- of messages_queue) or the lease. So no update was HOT: each of the three
-- to four versions a message goes through added an entry to the primary
-- key, the idempotency index, messages_queue, a messages_to_* index and the
-- GIN tag index, and those UPDATEs were PostgreSQL's largest cost in the
-- ingest bench (BENCHMARKS.md, "PostgreSQL group commit").
--
-- After this migration no index on messages covers a column that changes
-- after the insert, and the table leaves room on each page for the next
-- version, so Advance's, receipts', Claim's and lease renewal's updates are
-- HOT: they write the new row version on the same page and no index entry.
--
-- message_queue is the index of the work left: one narrow row per message
-- that is not final, keyed by when Claim may take it: next_at, or the end
-- of its lease if it is leased past next_at. A message held by a
-- dispatcher is therefore not in Claim's due range, which Claim walks
-- (message_queue_due) instead of stepping over every leased row. The
-- message row stays the truth: Claim and Stats re-check status, next_at
-- and the lease on it. A trigger keeps the queue in step with every update,
-- so no write path (a future one included) can forget it: an update that
-- changes status, next_at or the lease moves the row's key, or deletes the
-- row once the message is final. Enqueue, the one writer that inserts
-- messages, inserts their rows in the same statement.
-- A message leaves the queue when its status is one of the final statuses
-- listed below; a status added to store.Status must be added there if it
-- is final (TestMessageQueueStatuses compares the list with
-- store.Status.Final). A final status missing from the list only leaves a
-- row Claim and Stats skip.
CREATE TABLE message_queue (
    id      text COLLATE "C" NOT NULL PRIMARY KEY,
    next_at timestamptz
);
-- Claim and Stats' due count: the range next_at <= now, in order. Stats'
-- pending count is the table's size (the primary key).
CREATE INDEX message_queue_due ON message_queue (next_at, id);

INSERT INTO message_queue (id, next_at)
SELECT id, CASE WHEN lease_owner <> '' AND lease_until > next_at THEN lease_until ELSE next_at END
FROM messages WHERE status NOT IN ('delivered', 'read', 'failed', 'expired');

-- The key is next_at, or lease_until while the lease runs past next_at.
-- The row is updated in place when it exists (the common case: one index
-- probe, no conflict check), inserted otherwise.
CREATE FUNCTION switchboard_message_queue_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key timestamptz;
BEGIN
    IF NEW.status IS NOT DISTINCT FROM OLD.status AND NEW.next_at IS NOT DISTINCT FROM OLD.next_at
       AND NEW.lease_owner IS NOT DISTINCT FROM OLD.lease_owner AND NEW.lease_until IS NOT DISTINCT FROM OLD.lease_until THEN
        RETURN NEW;
    END IF;
    IF NEW.status IN ('delivered', 'read', 'failed', 'expired') THEN
        DELETE FROM message_queue WHERE id = NEW.id;
        RETURN NEW;
    END IF;
    key := CASE WHEN NEW.lease_owner <> '' AND NEW.lease_until > NEW.next_at THEN NEW.lease_until ELSE NEW.next_at END;
    UPDATE message_queue SET next_at = key WHERE id = NEW.id AND next_at IS DISTINCT FROM key;
    IF NOT FOUND THEN
        INSERT INTO message_queue (id, next_at) VALUES (NEW.id, key) ON CONFLICT (id) DO NOTHING;
    END IF;
    RETURN NEW;
END
$$;

-- Before the update, on the row version being written (the update cannot
-- be skipped after it: the row is locked by then), when a column the key
-- or the status is made of is set. (The function, not a WHEN clause,
-- checks that one changed: a WHEN clause is parsed again by every
-- statement.) Inserts add their rows themselves (queue_table.go).
CREATE TRIGGER messages_queue_update BEFORE UPDATE OF status, next_at, lease_owner, lease_until ON messages
    FOR EACH ROW EXECUTE FUNCTION switchboard_message_queue_update();

-- Room on each page for the next version of its rows: a HOT update needs
-- the new version on the old one's page. Set before the rewrite below, so
-- every page keeps half its space free. Measured in the ingest bench: 64%
-- of the updates were HOT at fillfactor 70, 98% at 50. The price is
-- space: the table's heap takes about twice its packed size (its indexes
-- do not grow, and stay free of the entries the non-HOT versions added).
ALTER TABLE messages SET (fillfactor = 50);

-- List status=failed|expired: only those rows have bad set. A generated
-- column, so status itself is in no index and a status change that keeps
-- bad false (queued, sending, sent, delivered) stays HOT. Adding a stored
-- generated column rewrites the table once.
ALTER TABLE messages ADD COLUMN bad boolean GENERATED ALWAYS AS (status IN ('failed', 'expired')) STORED;
CREATE INDEX messages_bad ON messages (id) WHERE bad;

DROP INDEX messages_queue;
DROP INDEX messages_status_bad;
