-- PostgreSQL drops the foreign keys to `campaign` from the append-only
-- per-player tables (draw, prize_award, vote, share, extra_chance), because
-- locking the campaign row FOR KEY SHARE would queue every draw behind the
-- one holding the ledger lock. SQLite has no row locks, so its keys stay;
-- both refuse to delete a campaign, which those rows rely on.
CREATE TRIGGER campaign_no_delete BEFORE DELETE ON campaign
BEGIN SELECT RAISE(ABORT, 'campaigns are never deleted'); END;
