-- Won coupon and top-up-code prizes waiting for the coupon service. The
-- draw's transaction writes the row; a worker delivers it over gRPC with the
-- draw id as idempotency key (the coupon store holds UNIQUE source ids) and
-- marks it delivered, retrying with back-off while the service is down.
CREATE TABLE prize_outbox (
    draw_id          TEXT PRIMARY KEY REFERENCES draw (draw_id),
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
CREATE INDEX prize_outbox_due ON prize_outbox (next_attempt_at) WHERE delivered_at IS NULL;
