-- The sender an attempt used (a number, an alphanumeric sender ID, a
-- messaging service SID, a WhatsApp phone number id), chosen by the
-- channel by the destination's country; '' for attempts made before it
-- was recorded, skipped attempts and channels that have one sender only
-- when they do not say.
ALTER TABLE attempts ADD COLUMN sender TEXT NOT NULL DEFAULT '';
