-- A published wheel's odds, prizes and stock change only as a new version of
-- its prize table, with its own commitment to the same seed. Each version
-- applies from a ledger sequence on; every draw records the version it used.
ALTER TABLE campaign ADD COLUMN table_version BIGINT NOT NULL DEFAULT 0;
CREATE TABLE prize_table_version (
    campaign_id       TEXT NOT NULL REFERENCES campaign (campaign_id),
    version           BIGINT NOT NULL CHECK (version >= 1),
    prize_table       TEXT NOT NULL,
    prize_table_hash  BYTEA NOT NULL,
    seed_commitment   BYTEA NOT NULL,
    first_ledger_seq  BIGINT NOT NULL CHECK (first_ledger_seq >= 1),
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, version)
);
ALTER TABLE draw ADD COLUMN table_version BIGINT;
