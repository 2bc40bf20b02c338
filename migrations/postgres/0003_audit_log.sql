-- The admin audit trail: append-only, hash-chained per merchant. The
-- merchant row holds the chain's head (last seq and hash), bumped under its
-- row lock, so entries are numbered without gaps in commit order.
ALTER TABLE merchant ADD COLUMN audit_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE merchant ADD COLUMN audit_head BYTEA;
CREATE TABLE audit_log (
    merchant_id  TEXT NOT NULL REFERENCES merchant (merchant_id),
    seq          BIGINT NOT NULL CHECK (seq >= 1),
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    campaign_id  TEXT,
    detail       TEXT NOT NULL,
    prev_hash    BYTEA NOT NULL,
    entry_hash   BYTEA NOT NULL,
    PRIMARY KEY (merchant_id, seq)
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
