-- Contact requests of the directory (ask, approve, decline; pending ones expire after 24 h, evaluated on read).
CREATE TABLE directory_contacts (
    id       BIGINT PRIMARY KEY,
    from_id  TEXT NOT NULL REFERENCES directory_participants (id) ON DELETE CASCADE,
    to_id    TEXT NOT NULL REFERENCES directory_participants (id) ON DELETE CASCADE,
    record   JSONB NOT NULL
);
CREATE INDEX directory_contacts_from ON directory_contacts (from_id);
CREATE INDEX directory_contacts_to ON directory_contacts (to_id);
