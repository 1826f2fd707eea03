-- Deliveries made while publishing (to a bus of the rule's account) are finished the moment they are made:
-- they are kept on their event's row, as JSON (eventyard/store/outbox.py inline_deliveries), not as rows of
-- `deliveries`, so that bus-to-bus fan-out writes one row per event instead of two.
ALTER TABLE events ADD COLUMN delivered TEXT NOT NULL DEFAULT '';
