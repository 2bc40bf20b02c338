-- Forward-to-Moments: share tokens and their chain, views, forwards, fan
-- counters and reward tiers. Tier prizes are prize awards like the wheel's
-- (same kinds, same fulfilment): prize_award gains `tier_index` and its
-- draw id becomes optional; the prize outbox is keyed by a source id (the
-- draw or the tier award).

ALTER TABLE prize_award ALTER COLUMN draw_id DROP NOT NULL;
ALTER TABLE prize_award ADD COLUMN tier_index BIGINT;
ALTER TABLE prize_award ADD CONSTRAINT prize_award_one_source
    CHECK ((draw_id IS NULL) <> (tier_index IS NULL));
-- Each tier is granted once per fan.
CREATE UNIQUE INDEX prize_award_tier_once ON prize_award (campaign_id, tier_index, player_id)
    WHERE tier_index IS NOT NULL;

ALTER TABLE prize_outbox DROP CONSTRAINT prize_outbox_draw_id_fkey;
ALTER TABLE prize_outbox RENAME COLUMN draw_id TO source_id;

-- Share-gated rewards are off until an admin turns them on (platform rules
-- forbid some induced sharing); shares, views and forwards are recorded
-- either way.
CREATE TABLE share_rules (
    campaign_id  TEXT PRIMARY KEY REFERENCES campaign (campaign_id),
    enabled      BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    updated_at   BIGINT NOT NULL
);

CREATE TABLE share_tier (
    campaign_id    TEXT NOT NULL REFERENCES campaign (campaign_id),
    tier_index     BIGINT NOT NULL CHECK (tier_index >= 0),
    metric         TEXT NOT NULL CHECK (metric IN ('shares', 'viewers', 'forwards')),
    threshold      BIGINT NOT NULL CHECK (threshold >= 1),
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    reference      TEXT,
    amount         BIGINT NOT NULL,
    claim_days     BIGINT NOT NULL,
    initial_stock  BIGINT NOT NULL CHECK (initial_stock >= 0),
    remaining      BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= initial_stock),
    PRIMARY KEY (campaign_id, tier_index)
);

-- One row per share token; the chain is parent -> child, down from the
-- root sharer.
CREATE TABLE share (
    token           TEXT PRIMARY KEY,
    campaign_id     TEXT NOT NULL REFERENCES campaign (campaign_id),
    sharer_id       TEXT NOT NULL,
    parent_token    TEXT REFERENCES share (token),
    root_sharer_id  TEXT NOT NULL,
    depth           BIGINT NOT NULL CHECK (depth >= 1),
    channel         TEXT,
    day             TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    CHECK ((parent_token IS NULL) = (depth = 1))
);
CREATE INDEX share_sharer ON share (campaign_id, sharer_id);
CREATE INDEX share_campaign_day ON share (campaign_id, day);

-- A view counts once per share and viewer; the sharer's own views are not
-- recorded as views.
CREATE TABLE share_view (
    token      TEXT NOT NULL REFERENCES share (token),
    viewer_id  TEXT NOT NULL,
    channel    TEXT,
    day        TEXT NOT NULL,
    viewed_at  BIGINT NOT NULL,
    PRIMARY KEY (token, viewer_id)
);

-- Distinct viewers of a fan across all the fan's shares (the tier metric).
CREATE TABLE fan_viewer (
    campaign_id  TEXT NOT NULL,
    sharer_id    TEXT NOT NULL,
    viewer_id    TEXT NOT NULL,
    PRIMARY KEY (campaign_id, sharer_id, viewer_id)
);

-- A forward counts once per parent share and forwarder.
CREATE TABLE share_forward (
    parent_token   TEXT NOT NULL REFERENCES share (token),
    forwarder_id   TEXT NOT NULL,
    child_token    TEXT NOT NULL REFERENCES share (token),
    PRIMARY KEY (parent_token, forwarder_id)
);

-- A fan's counters, bumped in the transaction of the view, share or
-- forward; the fan's row lock orders concurrent crossings of a tier.
CREATE TABLE fan_stats (
    campaign_id  TEXT NOT NULL,
    player_id    TEXT NOT NULL,
    shares       BIGINT NOT NULL CHECK (shares >= 0),
    viewers      BIGINT NOT NULL CHECK (viewers >= 0),
    forwards     BIGINT NOT NULL CHECK (forwards >= 0),
    PRIMARY KEY (campaign_id, player_id)
);
