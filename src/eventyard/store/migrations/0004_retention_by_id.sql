-- Retention finds old rows through the primary keys, whose ids begin with the time they were made at
-- (eventyard/store/outbox.py RowIds): the two time indexes cost every insert and are no longer read.
DROP INDEX events_ingested_at;
DROP INDEX deliveries_finished;
