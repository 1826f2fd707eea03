-- The durable outbox (see eventyard/store/outbox.py): accepted events and one delivery per (event, rule, target).
-- Portable between SQLite and PostgreSQL: ids are text made by the application (time-ordered), times are epoch seconds.

-- Events as each bus received them. The same event id appears once per bus it reached (bus-to-bus targets).
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    bus TEXT NOT NULL,
    ingested_at DOUBLE PRECISION NOT NULL,
    body TEXT NOT NULL,
    via TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_event_id ON events (event_id);
CREATE INDEX events_ingested_at ON events (ingested_at);

-- pending -> in-flight -> delivered | failed | dead-lettered | dropped; in-flight rows hold a lease whose end is
-- due_at, so claimable rows are state IN ('pending', 'in-flight') AND due_at <= now.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    event_ref TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    bus TEXT NOT NULL,
    rule_arn TEXT NOT NULL,
    target_id TEXT NOT NULL,
    target_arn TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    due_at DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    lease_owner TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX deliveries_claimable ON deliveries (due_at) WHERE state IN ('pending', 'in-flight');
CREATE INDEX deliveries_event_ref ON deliveries (event_ref);
CREATE INDEX deliveries_finished ON deliveries (updated_at) WHERE state NOT IN ('pending', 'in-flight');
