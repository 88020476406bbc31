-- message_queue (0012) and the statuses added beside it: canceled (a final
-- status from scheduled sends) and a delivered message waiting for its read
-- receipt (read-based failover, 0010), which keeps next_at, its read
-- deadline, and is claimed then (store.AwaitsRead).
--
-- 0012's trigger dropped every delivered message from the queue and kept
-- canceled ones, and 0010's messages_unread, which found the delivered
-- messages waiting for a read, indexes status and next_at on messages, so
-- no update of a message could be HOT. Here the queue holds the waiting
-- delivered messages too, keyed by their deadline as any other, and
-- messages_unread goes.
--
-- read_wait marks those rows: they are not pending work (store.QueueStats:
-- Pending counts messages not final), so Stats leaves them out of its
-- count. A constant default: adding the column rewrites nothing.
ALTER TABLE message_queue ADD COLUMN read_wait boolean NOT NULL DEFAULT false;

-- A message leaves the queue when its status is one of the final statuses
-- listed below, except a delivered message with a read deadline (next_at
-- set); a status added to store.Status must be added there if it is final
-- (TestMessageQueueStatuses compares the list with store.Status.Final).
CREATE OR REPLACE FUNCTION switchboard_message_queue_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key    timestamptz;
    unread boolean;
BEGIN
    IF NEW.status IS NOT DISTINCT FROM OLD.status AND NEW.next_at IS NOT DISTINCT FROM OLD.next_at
       AND NEW.lease_owner IS NOT DISTINCT FROM OLD.lease_owner AND NEW.lease_until IS NOT DISTINCT FROM OLD.lease_until THEN
        RETURN NEW;
    END IF;
    unread := NEW.status = 'delivered' AND NEW.next_at IS NOT NULL;
    IF NEW.status IN ('delivered', 'read', 'failed', 'expired', 'canceled') AND NOT unread THEN
        DELETE FROM message_queue WHERE id = NEW.id;
        RETURN NEW;
    END IF;
    key := CASE WHEN NEW.lease_owner <> '' AND NEW.lease_until > NEW.next_at THEN NEW.lease_until ELSE NEW.next_at END;
    UPDATE message_queue SET next_at = key, read_wait = unread
        WHERE id = NEW.id AND (next_at IS DISTINCT FROM key OR read_wait <> unread);
    IF NOT FOUND THEN
        INSERT INTO message_queue (id, next_at, read_wait) VALUES (NEW.id, key, unread) ON CONFLICT (id) DO NOTHING;
    END IF;
    RETURN NEW;
END
$$;

-- The rows 0012's list got wrong.
DELETE FROM message_queue WHERE id IN (SELECT id FROM messages WHERE status = 'canceled');
INSERT INTO message_queue (id, next_at, read_wait)
SELECT id, CASE WHEN lease_owner <> '' AND lease_until > next_at THEN lease_until ELSE next_at END, true
FROM messages WHERE status = 'delivered' AND next_at IS NOT NULL
ON CONFLICT (id) DO NOTHING;

DROP INDEX IF EXISTS messages_unread;
