-- Cost per attempt (issue 17): the amount in millionths of a currency
-- unit (integers add exactly; see package money), its ISO 4217 currency,
-- where it came from (reported by the provider, or declared in config)
-- and what the provider said beyond the amount (WhatsApp's pricing
-- category). 0, '' and '': no cost recorded. Constant defaults: adding
-- the columns rewrites nothing.
ALTER TABLE attempts ADD COLUMN cost_micros bigint NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN cost_currency text NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN cost_source text NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN cost_detail text NOT NULL DEFAULT '';

-- Spend per channel per UTC day per currency, for budgets: updated in the
-- same transaction as the attempt whose cost it counts (Advance, and
-- RecordReceipt when a reported price replaces a declared one), so every
-- instance sharing the database counts the same spend.
CREATE TABLE channel_spend (
    channel  text NOT NULL,
    day      date NOT NULL, -- UTC
    currency text NOT NULL,
    micros   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, channel, currency)
);
