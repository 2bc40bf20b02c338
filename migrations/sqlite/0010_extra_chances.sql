-- Extra wheel draws earned by sharing, by a share tier or by voting, capped
-- per player per campaign day. Granted in the transaction of the share,
-- tier or vote (so exactly once, with its idempotency key); spent by the
-- draw's own guarded counters, whose limits grow by what was granted for
-- that day (and in total).
CREATE TABLE chance_rules (
    campaign_id  TEXT PRIMARY KEY REFERENCES campaign (campaign_id),
    per_share    INTEGER NOT NULL CHECK (per_share >= 0),
    per_tier     INTEGER NOT NULL CHECK (per_tier >= 0),
    per_vote     INTEGER NOT NULL CHECK (per_vote >= 0),
    daily_cap    INTEGER NOT NULL CHECK (daily_cap >= 0),
    updated_at   INTEGER NOT NULL
);

CREATE TABLE extra_chance (
    campaign_id  TEXT NOT NULL REFERENCES campaign (campaign_id),
    player_id    TEXT NOT NULL,
    day          TEXT NOT NULL,
    granted      INTEGER NOT NULL CHECK (granted >= 0),
    PRIMARY KEY (campaign_id, player_id, day)
);
