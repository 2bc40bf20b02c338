-- Foundation (merchants, credentials, idempotency) and the lucky wheel.
-- Times are BIGINT unix milliseconds and ids are TEXT uuids, all generated
-- in Rust so SQLite and PostgreSQL hold identical values.

CREATE TABLE merchant (
    merchant_id   TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    token_issuer  TEXT UNIQUE,
    token_secret  BYTEA,
    created_at    BIGINT NOT NULL
);

CREATE TABLE api_key (
    key_id       TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES merchant (merchant_id),
    role         TEXT NOT NULL CHECK (role IN ('admin', 'pos', 'auditor')),
    store_id     TEXT,
    label        TEXT NOT NULL,
    secret_hash  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    CHECK ((role = 'pos') = (store_id IS NOT NULL))
);
CREATE INDEX api_key_merchant ON api_key (merchant_id);

-- One row per (caller, RPC, key), written in the same transaction as the
-- effect; `response` holds the exact answer bytes for replays.
CREATE TABLE idempotency (
    scope        TEXT NOT NULL,
    method       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    fingerprint  BYTEA NOT NULL,
    response     BYTEA,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, method, idem_key)
);

CREATE TABLE campaign (
    campaign_id    TEXT PRIMARY KEY,
    merchant_id    TEXT NOT NULL REFERENCES merchant (merchant_id),
    name           TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('draft', 'published', 'paused', 'ended')),
    starts_at      BIGINT NOT NULL,
    ends_at        BIGINT NOT NULL,
    time_zone      TEXT NOT NULL,
    draws_per_day  BIGINT NOT NULL CHECK (draws_per_day >= 1),
    draws_total    BIGINT NOT NULL CHECK (draws_total >= draws_per_day),
    fallback_slot  BIGINT,
    roll_secret    BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX campaign_merchant ON campaign (merchant_id);

CREATE TABLE prize_slot (
    campaign_id    TEXT NOT NULL REFERENCES campaign (campaign_id),
    slot_index     BIGINT NOT NULL CHECK (slot_index BETWEEN 0 AND 16),
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    weight         BIGINT NOT NULL CHECK (weight >= 0),
    initial_stock  BIGINT NOT NULL CHECK (initial_stock >= 0),
    remaining      BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= initial_stock),
    daily_cap      BIGINT CHECK (daily_cap > 0),
    per_user_cap   BIGINT CHECK (per_user_cap > 0),
    reference      TEXT,
    amount         BIGINT NOT NULL,
    claim_days     BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, slot_index)
);

-- Units of a slot released per campaign day (daily release cap).
CREATE TABLE prize_daily_release (
    campaign_id  TEXT NOT NULL,
    slot_index   BIGINT NOT NULL,
    day          TEXT NOT NULL,
    released     BIGINT NOT NULL CHECK (released >= 0),
    PRIMARY KEY (campaign_id, slot_index, day)
);

-- Units of a slot won by one player (per-user cap).
CREATE TABLE player_prize_count (
    campaign_id  TEXT NOT NULL,
    slot_index   BIGINT NOT NULL,
    player_id    TEXT NOT NULL,
    won          BIGINT NOT NULL CHECK (won >= 0),
    PRIMARY KEY (campaign_id, slot_index, player_id)
);

-- Draws a player has made, in total and per campaign day.
CREATE TABLE player_draws (
    campaign_id  TEXT NOT NULL,
    player_id    TEXT NOT NULL,
    draws        BIGINT NOT NULL CHECK (draws >= 0),
    PRIMARY KEY (campaign_id, player_id)
);
CREATE TABLE player_daily_draws (
    campaign_id  TEXT NOT NULL,
    player_id    TEXT NOT NULL,
    day          TEXT NOT NULL,
    draws        BIGINT NOT NULL CHECK (draws >= 0),
    PRIMARY KEY (campaign_id, player_id, day)
);

-- The draw ledger: one row per accepted draw, with everything its roll was
-- derived from.
CREATE TABLE draw (
    draw_id          TEXT PRIMARY KEY,
    campaign_id      TEXT NOT NULL REFERENCES campaign (campaign_id),
    player_id        TEXT NOT NULL,
    draw_seq         BIGINT NOT NULL CHECK (draw_seq >= 1),
    day              TEXT NOT NULL,
    roll             BIGINT NOT NULL,
    rolled_slot      BIGINT NOT NULL,
    awarded_slot     BIGINT NOT NULL,
    fallback_reason  TEXT NOT NULL,
    channel          TEXT,
    drawn_at         BIGINT NOT NULL,
    UNIQUE (campaign_id, player_id, draw_seq)
);
CREATE INDEX draw_campaign_slot ON draw (campaign_id, awarded_slot);

-- Prizes won (every draw whose prize is not THANKS), with fulfilment.
CREATE TABLE prize_award (
    award_id         TEXT PRIMARY KEY,
    campaign_id      TEXT NOT NULL REFERENCES campaign (campaign_id),
    draw_id          TEXT NOT NULL UNIQUE REFERENCES draw (draw_id),
    player_id        TEXT NOT NULL,
    slot_index       BIGINT NOT NULL,
    prize_name       TEXT NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('granted', 'won', 'claimed', 'shipped', 'expired')),
    won_at           BIGINT NOT NULL,
    claim_deadline   BIGINT,
    recipient        TEXT,
    phone            TEXT,
    address          TEXT,
    tracking_number  TEXT,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX prize_award_player ON prize_award (player_id, campaign_id);
CREATE INDEX prize_award_campaign ON prize_award (campaign_id, won_at);
CREATE INDEX prize_award_expiry ON prize_award (status, claim_deadline);
