-- ListRedPackets and ListShareChains (issue 24) read keyset pages, newest
-- first; each list's sort key has an index that answers a page with one
-- range read. ListRedPackets reads a campaign's packets by packet_seq
-- (the UNIQUE (campaign_id, packet_seq) of 0007), or one kind's: a
-- merchant's few campaign packets are not found by walking its many
-- group packets. ListShareChains reads a campaign's shares by
-- (created_at, token), or one sharer's (replacing share_sharer, its
-- prefix).
CREATE INDEX red_packet_campaign_kind ON red_packet (campaign_id, kind, packet_seq);
CREATE INDEX share_campaign_created ON share (campaign_id, created_at, token);
CREATE INDEX share_sharer_created ON share (campaign_id, sharer_id, created_at, token);
DROP INDEX share_sharer;
