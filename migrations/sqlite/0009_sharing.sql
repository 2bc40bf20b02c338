-- Forward-to-Moments: share tokens and their chain, views, forwards, fan
-- counters and reward tiers. Tier prizes are prize awards like the wheel's
-- (same kinds, same fulfilment): prize_award gains `tier_index` and its
-- draw id becomes optional; the prize outbox is keyed by a source id (the
-- draw or the tier award). Both tables are rebuilt (SQLite cannot drop a
-- NOT NULL or a foreign key in place); no other table references them.

CREATE TABLE prize_award_v2 (
    award_id         TEXT PRIMARY KEY,
    campaign_id      TEXT NOT NULL REFERENCES campaign (campaign_id),
    draw_id          TEXT UNIQUE REFERENCES draw (draw_id),
    tier_index       INTEGER,
    player_id        TEXT NOT NULL,
    slot_index       INTEGER NOT NULL,
    prize_name       TEXT NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('granted', 'won', 'claimed', 'shipped', 'expired')),
    won_at           INTEGER NOT NULL,
    claim_deadline   INTEGER,
    recipient        TEXT,
    phone            TEXT,
    address          TEXT,
    tracking_number  TEXT,
    updated_at       INTEGER NOT NULL,
    -- A wheel prize comes from a draw, a tier prize from its tier.
    CHECK ((draw_id IS NULL) <> (tier_index IS NULL))
);
INSERT INTO prize_award_v2 (award_id, campaign_id, draw_id, tier_index, player_id, slot_index,
    prize_name, kind, status, won_at, claim_deadline, recipient, phone, address, tracking_number,
    updated_at)
SELECT award_id, campaign_id, draw_id, NULL, player_id, slot_index, prize_name, kind, status,
    won_at, claim_deadline, recipient, phone, address, tracking_number, updated_at
FROM prize_award;
DROP TABLE prize_award;
ALTER TABLE prize_award_v2 RENAME TO prize_award;
CREATE INDEX prize_award_player ON prize_award (player_id, campaign_id);
CREATE INDEX prize_award_campaign ON prize_award (campaign_id, won_at);
CREATE INDEX prize_award_expiry ON prize_award (status, claim_deadline);
-- Each tier is granted once per fan.
CREATE UNIQUE INDEX prize_award_tier_once ON prize_award (campaign_id, tier_index, player_id)
    WHERE tier_index IS NOT NULL;

CREATE TABLE prize_outbox_v2 (
    source_id        TEXT PRIMARY KEY,
    award_id         TEXT NOT NULL,
    merchant_id      TEXT NOT NULL,
    campaign_id      TEXT NOT NULL,
    player_id        TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('COUPON', 'TOPUP_CODE')),
    reference        TEXT NOT NULL,
    attempts         INTEGER NOT NULL CHECK (attempts >= 0),
    next_attempt_at  INTEGER NOT NULL,
    delivered_at     INTEGER,
    coupon_id        TEXT,
    last_error       TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);
INSERT INTO prize_outbox_v2 SELECT * FROM prize_outbox;
DROP TABLE prize_outbox;
ALTER TABLE prize_outbox_v2 RENAME TO prize_outbox;
CREATE INDEX prize_outbox_due ON prize_outbox (next_attempt_at) WHERE delivered_at IS NULL;

-- Share-gated rewards are off until an admin turns them on (platform rules
-- forbid some induced sharing); shares, views and forwards are recorded
-- either way.
CREATE TABLE share_rules (
    campaign_id  TEXT PRIMARY KEY REFERENCES campaign (campaign_id),
    enabled      INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    updated_at   INTEGER NOT NULL
);

CREATE TABLE share_tier (
    campaign_id    TEXT NOT NULL REFERENCES campaign (campaign_id),
    tier_index     INTEGER NOT NULL CHECK (tier_index >= 0),
    metric         TEXT NOT NULL CHECK (metric IN ('shares', 'viewers', 'forwards')),
    threshold      INTEGER NOT NULL CHECK (threshold >= 1),
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    reference      TEXT,
    amount         INTEGER NOT NULL,
    claim_days     INTEGER NOT NULL,
    initial_stock  INTEGER NOT NULL CHECK (initial_stock >= 0),
    remaining      INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= initial_stock),
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
    depth           INTEGER NOT NULL CHECK (depth >= 1),
    channel         TEXT,
    day             TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
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
    viewed_at  INTEGER NOT NULL,
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
    shares       INTEGER NOT NULL CHECK (shares >= 0),
    viewers      INTEGER NOT NULL CHECK (viewers >= 0),
    forwards     INTEGER NOT NULL CHECK (forwards >= 0),
    PRIMARY KEY (campaign_id, player_id)
);
