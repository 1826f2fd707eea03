-- Claimable deliveries by target: lets a store find the earliest due delivery of each target quickly when
-- some targets are left out (a node skips targets it is saturated with, whose backlog may be long).
CREATE INDEX deliveries_claimable_by_target ON deliveries (target_arn, due_at) WHERE state IN ('pending', 'in-flight');
