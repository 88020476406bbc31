-- An optional HTML alternative to the body, for email channels.
ALTER TABLE messages ADD COLUMN html TEXT NOT NULL DEFAULT '';
