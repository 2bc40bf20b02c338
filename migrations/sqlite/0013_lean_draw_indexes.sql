-- Every draw writes every index of `draw`, so the draw path pays for each
-- one. Since the participation roll-up (0012) answers "who took part, and
-- where first", three of them serve no query any more:
--   draw_campaign_player (campaign_id, player_id, drawn_at): first activity,
--     now `participant`; a player's draws are found through the UNIQUE
--     (campaign_id, player_id, draw_seq) index anyway;
--   draw_campaign_slot (campaign_id, awarded_slot): nothing reads it (wins
--     per slot come from the slot's own counters);
--   draw_campaign_day's trailing player_id: distinct players per day are
--     `participant_day`; the per-(day, channel) count needs no player.
DROP INDEX draw_campaign_player;
DROP INDEX draw_campaign_slot;
DROP INDEX draw_campaign_day;
CREATE INDEX draw_campaign_day ON draw (campaign_id, day, channel);
