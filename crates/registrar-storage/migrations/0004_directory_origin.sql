-- The name of this directory store (a random text given once), so that a node's directory image, taken from
-- one database and schema, is never used with another: the image holds this name and a feed position.
CREATE TABLE directory_origin (
    id    BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    name  TEXT NOT NULL
);
INSERT INTO directory_origin (name) VALUES (md5(random()::text || clock_timestamp()::text || current_schema()));
