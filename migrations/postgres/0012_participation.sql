-- Participation roll-up for statistics: who took part in a campaign, and
-- on which (day, channel). Written with each activity (draw, vote, share,
-- counted view, red-packet grab) in its own transaction, insert-if-absent,
-- so the counts equal the activity records without scanning them; the
-- first row of a player is their first recorded activity. Backfilled here
-- from the records already there.
CREATE TABLE participant (
    campaign_id    TEXT NOT NULL,
    player_id      TEXT NOT NULL,
    first_at       BIGINT NOT NULL,
    first_day      TEXT NOT NULL,
    first_channel  TEXT NOT NULL,
    PRIMARY KEY (campaign_id, player_id)
);
CREATE INDEX participant_first ON participant (campaign_id, first_day, first_channel);

CREATE TABLE participant_day (
    campaign_id  TEXT NOT NULL,
    day          TEXT NOT NULL,
    channel      TEXT NOT NULL,
    player_id    TEXT NOT NULL,
    PRIMARY KEY (campaign_id, day, channel, player_id)
);

INSERT INTO participant_day (campaign_id, day, channel, player_id)
SELECT DISTINCT c, d, ch, p FROM (
    SELECT campaign_id AS c, player_id AS p, day AS d, COALESCE(channel, '') AS ch FROM draw
    UNION ALL SELECT campaign_id, player_id, day, COALESCE(channel, '') FROM vote
    UNION ALL SELECT campaign_id, sharer_id, day, COALESCE(channel, '') FROM share
    UNION ALL SELECT s.campaign_id, v.viewer_id, v.day, COALESCE(v.channel, '') FROM share_view v
      JOIN share s ON s.token = v.token
    UNION ALL SELECT r.campaign_id, g.player_id, COALESCE(g.day, '0000-00-00'), COALESCE(g.channel, '')
      FROM packet_grab g JOIN red_packet r ON r.packet_id = g.packet_id
) act;

INSERT INTO participant (campaign_id, player_id, first_at, first_day, first_channel)
SELECT c, p, CAST(substr(m, 1, 13) AS BIGINT), substr(m, 15, 10), substr(m, 26) FROM (
    SELECT c, p, MIN(CAST(t AS TEXT) || '|' || d || '|' || ch) AS m FROM (
        SELECT campaign_id AS c, player_id AS p, day AS d, COALESCE(channel, '') AS ch, drawn_at AS t FROM draw
        UNION ALL SELECT campaign_id, player_id, day, COALESCE(channel, ''), cast_at FROM vote
        UNION ALL SELECT campaign_id, sharer_id, day, COALESCE(channel, ''), created_at FROM share
        UNION ALL SELECT s.campaign_id, v.viewer_id, v.day, COALESCE(v.channel, ''), v.viewed_at
          FROM share_view v JOIN share s ON s.token = v.token
        UNION ALL SELECT r.campaign_id, g.player_id, COALESCE(g.day, '0000-00-00'),
          COALESCE(g.channel, ''), g.grabbed_at FROM packet_grab g
          JOIN red_packet r ON r.packet_id = g.packet_id
    ) act GROUP BY c, p
) firsts;
