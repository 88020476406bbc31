-- A message's WhatsApp number is usually its phone number, and such a
-- message is found through messages_to_phone already: indexing the same
-- number a second time cost every enqueue an index insert (and a few WAL
-- frames per commit). The WhatsApp index now holds only the numbers that
-- differ from the phone number; List asks for
-- "to_phone = ? OR (to_whatsapp = ? AND to_whatsapp IS NOT to_phone)",
-- which finds the same messages (issue 18, BENCHMARKS.md).
DROP INDEX messages_to_whatsapp;
CREATE INDEX messages_to_whatsapp_other ON messages (to_whatsapp, id)
    WHERE to_whatsapp IS NOT NULL AND to_whatsapp IS NOT to_phone;
