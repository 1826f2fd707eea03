-- Resources of every kind (event buses, rules, partner event sources, connections, ...) as JSON documents.
-- One row per resource: owned by (account, region), named within its parent (a rule's parent is its bus).
CREATE TABLE resources (
    kind TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    parent TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    ref TEXT,
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, account, region, parent, name)
);
-- Secondary look-ups: a partner event source by the customer account it is offered to, a target by ARN.
CREATE INDEX resources_ref ON resources (kind, region, ref);
