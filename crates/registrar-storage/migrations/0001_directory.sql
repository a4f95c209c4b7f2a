-- The participant directory (registrar-directory), shared mode.
-- Records are the directory's JSON (serde) forms; the key columns are what queries and erasure use.

CREATE TABLE directory_participants (
    id          TEXT PRIMARY KEY,
    record      JSONB NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE directory_relationships (
    from_id  TEXT NOT NULL REFERENCES directory_participants (id) ON DELETE CASCADE,
    to_id    TEXT NOT NULL REFERENCES directory_participants (id) ON DELETE CASCADE,
    record   JSONB NOT NULL,
    PRIMARY KEY (from_id, to_id)
);
CREATE INDEX directory_relationships_to ON directory_relationships (to_id);

CREATE TABLE directory_topics (
    participant  TEXT NOT NULL REFERENCES directory_participants (id) ON DELETE CASCADE,
    topic        TEXT NOT NULL,
    record       JSONB NOT NULL,
    PRIMARY KEY (participant, topic)
);
CREATE INDEX directory_topics_topic ON directory_topics (topic);

CREATE TABLE directory_ratings (
    rater     TEXT NOT NULL REFERENCES directory_participants (id) ON DELETE CASCADE,
    ratee     TEXT NOT NULL REFERENCES directory_participants (id) ON DELETE CASCADE,
    category  TEXT NOT NULL,
    score     SMALLINT NOT NULL CHECK (score BETWEEN 0 AND 100),
    record    JSONB NOT NULL,
    PRIMARY KEY (rater, ratee, category)
);
CREATE INDEX directory_ratings_ratee ON directory_ratings (ratee);

CREATE TABLE directory_priorities (
    participant  TEXT PRIMARY KEY REFERENCES directory_participants (id) ON DELETE CASCADE,
    record       JSONB NOT NULL
);

-- Append-only: the store only inserts, except an erasure, which deletes the entries about the erased
-- participant and replaces their id as actor by their tombstone (the trigger below refuses anything else).
CREATE TABLE directory_audit (
    seq      BIGSERIAL PRIMARY KEY,
    at_ms    BIGINT NOT NULL,
    actor    TEXT,
    subject  TEXT NOT NULL,
    action   TEXT NOT NULL,
    record   JSONB NOT NULL
);
CREATE INDEX directory_audit_subject ON directory_audit (subject, seq DESC);
CREATE INDEX directory_audit_actor ON directory_audit (actor) WHERE actor IS NOT NULL;

CREATE FUNCTION directory_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('registrar.erasing', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'directory_audit is append-only (only an erasure may change it)';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER directory_audit_append_only
    BEFORE UPDATE OR DELETE ON directory_audit
    FOR EACH ROW EXECUTE FUNCTION directory_audit_guard();
