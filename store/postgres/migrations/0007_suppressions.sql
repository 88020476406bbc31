-- The opt-out list (issue 16): a message is never sent to an address on a
-- channel of a kind the person left. One row per (address, kind); the
-- primary key serves the dispatcher's lookup by address and the API's
-- paging in (address, kind) order. COLLATE "C": paging compares bytewise.
CREATE TABLE suppressions (
    address    text COLLATE "C" NOT NULL,
    kind       text COLLATE "C" NOT NULL,
    reason     text NOT NULL DEFAULT '',
    source     text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (address, kind)
);
