-- Provable fairness: the seed is drawn at publish and committed to together
-- with the canonical prize table; revealed when the campaign ends. Draws get
-- a campaign-wide ledger sequence in commit order (the campaign row's
-- counter is bumped under its row lock) and a player pseudonym, the roll's
-- player input, so exports name no openid.
ALTER TABLE campaign ADD COLUMN draw_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE campaign ADD COLUMN prize_table TEXT;
ALTER TABLE campaign ADD COLUMN prize_table_hash BLOB;
ALTER TABLE campaign ADD COLUMN seed_commitment BLOB;
ALTER TABLE campaign ADD COLUMN published_at INTEGER;
ALTER TABLE campaign ADD COLUMN revealed_at INTEGER;
ALTER TABLE draw ADD COLUMN ledger_seq INTEGER;
ALTER TABLE draw ADD COLUMN player_pseudonym TEXT;
CREATE UNIQUE INDEX draw_ledger ON draw (campaign_id, ledger_seq);
