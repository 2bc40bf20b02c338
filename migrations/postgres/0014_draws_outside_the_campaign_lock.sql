-- A draw holds the campaign row's lock (its ledger number, `draw_count`)
-- from its ledger step to its commit, and writes its draw and award rows
-- before that step, so that it holds the lock as briefly as possible. A
-- foreign key to `campaign` would make each of those inserts lock the
-- campaign row FOR KEY SHARE, and locking a row whose newest version an
-- uncommitted draw wrote waits for that draw: every draw, vote and share of
-- the campaign would queue behind the draw holding the ledger lock. So the
-- append-only per-player tables drop that key; what it guaranteed holds
-- because each of them takes its campaign id from the campaign row it read
-- in the same transaction, and campaigns are never deleted (enforced below).
ALTER TABLE draw DROP CONSTRAINT draw_campaign_id_fkey;
ALTER TABLE prize_award DROP CONSTRAINT prize_award_campaign_id_fkey;
ALTER TABLE vote DROP CONSTRAINT vote_campaign_id_fkey;
ALTER TABLE share DROP CONSTRAINT share_campaign_id_fkey;
ALTER TABLE extra_chance DROP CONSTRAINT extra_chance_campaign_id_fkey;

CREATE FUNCTION campaign_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'campaigns are never deleted';
END
$$;
CREATE TRIGGER campaign_no_delete BEFORE DELETE ON campaign
FOR EACH ROW EXECUTE FUNCTION campaign_never_deleted();
