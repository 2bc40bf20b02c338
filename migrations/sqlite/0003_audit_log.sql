-- The admin audit trail: append-only, hash-chained per merchant. The
-- merchant row holds the chain's head (last seq and hash), bumped under its
-- row lock, so entries are numbered without gaps in commit order.
ALTER TABLE merchant ADD COLUMN audit_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE merchant ADD COLUMN audit_head BLOB;
CREATE TABLE audit_log (
    merchant_id  TEXT NOT NULL REFERENCES merchant (merchant_id),
    seq          INTEGER NOT NULL CHECK (seq >= 1),
    at           INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    campaign_id  TEXT,
    detail       TEXT NOT NULL,
    prev_hash    BLOB NOT NULL,
    entry_hash   BLOB NOT NULL,
    PRIMARY KEY (merchant_id, seq)
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
