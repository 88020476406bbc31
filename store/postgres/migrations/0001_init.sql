-- Switchboard's PostgreSQL schema: the same data as store/sqlite's, in
-- native types (timestamptz, text[], jsonb). Times have microsecond
-- precision; NULL means "not set".
--
-- Ids are compared bytewise (COLLATE "C") whatever the database's locale:
-- newest-first paging and Claim's tie-break sort on them.
CREATE TABLE messages (
    id           text COLLATE "C" NOT NULL PRIMARY KEY,
    idem_scope   text        NOT NULL DEFAULT '',
    idem_key     text        NOT NULL DEFAULT '',
    request_hash text        NOT NULL DEFAULT '',
    policy       text        NOT NULL DEFAULT '',
    route        text[]      NOT NULL DEFAULT '{}',
    -- NULL when empty, so the partial indexes below stay small.
    to_phone     text,
    to_whatsapp  text,
    to_email     text,
    to_telegram  text,
    body         text        NOT NULL DEFAULT '',
    subject      text        NOT NULL DEFAULT '',
    tags         text[]      NOT NULL DEFAULT '{}',
    metadata     jsonb       NOT NULL DEFAULT '{}',
    callback_url text        NOT NULL DEFAULT '',
    status       text        NOT NULL,
    channel      text        NOT NULL DEFAULT '',
    step         integer     NOT NULL DEFAULT 0,
    tries        integer     NOT NULL DEFAULT 0,
    attempts     integer     NOT NULL DEFAULT 0,
    duplicate    boolean     NOT NULL DEFAULT false,
    last_error   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    -- NULL: not due (final, or waiting for a receipt with no deadline).
    next_at      timestamptz,
    lease_owner  text        NOT NULL DEFAULT '',
    lease_until  timestamptz
);

CREATE UNIQUE INDEX messages_idempotency ON messages (idem_scope, idem_key) WHERE idem_key <> '';
-- Claim and Stats walk due messages in next_at order.
CREATE INDEX messages_due ON messages (next_at, id) WHERE next_at IS NOT NULL;
-- Stats counts the messages that are not final.
CREATE INDEX messages_pending ON messages (id) WHERE status IN ('queued', 'sending', 'sent');
-- Release finds an owner's leases.
CREATE INDEX messages_leased ON messages (lease_owner) WHERE lease_owner <> '';
CREATE INDEX messages_status_bad ON messages (status, id) WHERE status IN ('failed', 'expired');
CREATE INDEX messages_to_phone ON messages (to_phone, id) WHERE to_phone IS NOT NULL;
CREATE INDEX messages_to_whatsapp ON messages (to_whatsapp, id) WHERE to_whatsapp IS NOT NULL;
CREATE INDEX messages_to_email ON messages (to_email, id) WHERE to_email IS NOT NULL;
CREATE INDEX messages_to_telegram ON messages (to_telegram, id) WHERE to_telegram IS NOT NULL;
-- The dashboard's tag search (tags @> ARRAY[tag]).
CREATE INDEX messages_tags ON messages USING gin (tags);

CREATE TABLE attempts (
    message_id   text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    seq          integer     NOT NULL,
    step         integer     NOT NULL DEFAULT 0,
    channel      text        NOT NULL DEFAULT '',
    status       text        NOT NULL,
    provider_id  text        NOT NULL DEFAULT '',
    error_class  text        NOT NULL DEFAULT '',
    error        text        NOT NULL DEFAULT '',
    info         text        NOT NULL DEFAULT '',
    reason       text        NOT NULL DEFAULT '',
    ambiguous    boolean     NOT NULL DEFAULT false,
    late         boolean     NOT NULL DEFAULT false,
    started_at   timestamptz,
    ended_at     timestamptz,
    delivered_at timestamptz,
    PRIMARY KEY (message_id, seq)
);

-- Receipts find their attempt by the provider's id.
CREATE INDEX attempts_provider ON attempts (channel, provider_id) WHERE provider_id <> '';

-- The status callback outbox (store.CallbackOutbox). The payload is json,
-- not jsonb: it is signed, so its bytes come back exactly as written.
CREATE TABLE callbacks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    url         text        NOT NULL,
    scope       text        NOT NULL DEFAULT '',
    payload     json        NOT NULL,
    status      text        NOT NULL DEFAULT 'pending',
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    next_at     timestamptz,
    finished_at timestamptz,
    lease_owner text        NOT NULL DEFAULT '',
    lease_until timestamptz
);
-- ClaimCallbacks walks the due pending rows in next_at order.
CREATE INDEX callbacks_due ON callbacks (next_at, id) WHERE status = 'pending';
-- A message's callbacks, oldest first, and Claim's per-message order check.
CREATE INDEX callbacks_message ON callbacks (message_id, id);

-- Ops overrides shared by every instance (store.OverrideStore).
CREATE TABLE channel_overrides (
    channel    text        NOT NULL PRIMARY KEY,
    disabled   boolean     NOT NULL,
    reason     text        NOT NULL DEFAULT '',
    updated_by text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL
);
