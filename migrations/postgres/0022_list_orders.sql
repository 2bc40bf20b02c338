-- The list RPCs (issue 24) read keyset pages, newest first; each list's
-- sort key gets an index that answers a page with one range read:
-- ListCampaigns by (created_at, campaign_id) within a merchant (replacing
-- campaign_merchant, its prefix), ListVotes by vote_id within a campaign.
-- ListWinners reads prize_award_campaign (campaign_id, won_at).
CREATE INDEX campaign_merchant_created ON campaign (merchant_id, created_at, campaign_id);
DROP INDEX campaign_merchant;
CREATE INDEX vote_by_campaign ON vote (campaign_id, vote_id);
