-- Statistics by channel and campaign day: red-packet grabs record the
-- player's channel and the campaign day like draws, votes and shares do;
-- indexes for the per-campaign breakdowns.
ALTER TABLE packet_grab ADD COLUMN channel TEXT;
ALTER TABLE packet_grab ADD COLUMN day TEXT;
-- Covering indexes for the per-(day, channel) counts and the first
-- activity of each player.
CREATE INDEX draw_campaign_day ON draw (campaign_id, day, channel, player_id);
CREATE INDEX draw_campaign_player ON draw (campaign_id, player_id, drawn_at);
CREATE INDEX share_view_day ON share_view (day);
