-- Inbound messages: what people send to the gateway's channels (replies,
-- STOP), stored for GET /v1/inbound and reported to the app's
-- inbound.callback_url through the callback outbox (store.InboundStore).
CREATE TABLE inbound (
    id                   text COLLATE "C" PRIMARY KEY,
    channel              text        NOT NULL,
    kind                 text        NOT NULL,
    from_addr            text        NOT NULL,
    to_addr              text        NOT NULL DEFAULT '',
    text                 text        NOT NULL DEFAULT '',
    provider_id          text        NOT NULL DEFAULT '',
    reply_to_provider_id text        NOT NULL DEFAULT '',
    reply_to             text        NOT NULL DEFAULT '',
    received_at          timestamptz NOT NULL
);
-- A provider's retry of the same message is recognised by its id.
CREATE UNIQUE INDEX inbound_provider ON inbound (channel, provider_id) WHERE provider_id <> '';
-- GET /v1/inbound's filters, newest first.
CREATE INDEX inbound_channel ON inbound (channel, id);
CREATE INDEX inbound_from ON inbound (from_addr, id);

-- The callback outbox also carries inbound messages' callbacks: a row
-- belongs to a message (message_id) or to an inbound message (inbound_id).
ALTER TABLE callbacks ALTER COLUMN message_id DROP NOT NULL;
ALTER TABLE callbacks ADD COLUMN inbound_id text COLLATE "C" REFERENCES inbound (id) ON DELETE CASCADE;
ALTER TABLE callbacks ADD CONSTRAINT callbacks_one_owner CHECK ((message_id IS NULL) <> (inbound_id IS NULL));
