-- A prize coupon remembers the campaign that gave it (issue 23: the
-- campaign service counts its prize coupons and their redemptions by
-- asking the coupon service, ListCampaignPrizeCoupons, instead of joining
-- the coupon tables to its own). Set by DeliverPrize from now on; the
-- coupons delivered before are given theirs here, once, from the awards
-- that won them.
ALTER TABLE coupon ADD COLUMN campaign_id TEXT;
UPDATE coupon SET campaign_id = (
    SELECT a.campaign_id FROM prize_award a
    WHERE a.draw_id = coupon.source_id OR a.award_id = coupon.source_id
    LIMIT 1)
WHERE source = 'prize';
CREATE INDEX coupon_by_campaign ON coupon (campaign_id, source_id)
    WHERE campaign_id IS NOT NULL;
