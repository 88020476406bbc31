-- Cost per attempt (issue 17): the amount in millionths of a currency
-- unit (integers add exactly; see package money), its ISO 4217 currency,
-- where it came from (reported by the provider, or declared in config)
-- and what the provider said beyond the amount (WhatsApp's pricing
-- category). Zero, '' and '': no cost recorded.
ALTER TABLE attempts ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN cost_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN cost_source TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN cost_detail TEXT NOT NULL DEFAULT '';

-- Spend per channel per UTC day per currency, for budgets: updated in the
-- same transaction as the attempt whose cost it counts (Advance, and
-- RecordReceipt when a reported price replaces a declared one). Rows are
-- small and one per channel and day; nothing purges them.
CREATE TABLE channel_spend (
    channel  TEXT NOT NULL,
    day      TEXT NOT NULL, -- UTC, YYYY-MM-DD
    currency TEXT NOT NULL,
    micros   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, channel, currency)
) WITHOUT ROWID;
