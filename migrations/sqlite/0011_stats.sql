-- Statistics by channel and campaign day: red-packet grabs record the
-- player's channel and the campaign day like draws, votes and shares do;
-- indexes for the per-campaign breakdowns.
ALTER TABLE packet_grab ADD COLUMN channel TEXT;
ALTER TABLE packet_grab ADD COLUMN day TEXT;
CREATE INDEX draw_campaign_day ON draw (campaign_id, day);
CREATE INDEX share_view_day ON share_view (day);
