-- Inbound messages are purged by retention (store.Purger.PurgeInbound):
-- the check for a pending callback and the ON DELETE CASCADE look
-- callbacks up by inbound_id.
CREATE INDEX callbacks_inbound ON callbacks (inbound_id) WHERE inbound_id IS NOT NULL;
