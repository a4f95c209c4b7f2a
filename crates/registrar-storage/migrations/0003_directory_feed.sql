-- The change feed of the directory, so that every node's memory follows the database: each write appends its
-- state changes (the directory's JSON form of them) as one entry, under a lock that makes the entries' order
-- the commit order. Nodes read the entries after the position they applied; old entries are pruned, and a node
-- that finds entries it needs pruned reloads everything.
CREATE TABLE directory_feed (
    seq      BIGINT PRIMARY KEY,
    changes  JSONB NOT NULL,
    at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE directory_feed_state (
    id              BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    pruned_through  BIGINT NOT NULL DEFAULT 0
);
INSERT INTO directory_feed_state DEFAULT VALUES;
