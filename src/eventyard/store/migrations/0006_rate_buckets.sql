-- Token buckets shared by every node (Store.take_tokens in eventyard/store/base.py): an API destination's
-- InvocationRateLimitPerSecond holds for all the nodes together, as AWS's limit does. One row per bucket (an
-- API destination's ARN): the tokens it held at updated_at (epoch seconds; it refills from then), and how many
-- the last take granted, which the same statement reads back.
CREATE TABLE rate_buckets (
    name TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    granted INTEGER NOT NULL DEFAULT 0
);
