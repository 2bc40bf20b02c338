-- Coupons: templates, issued coupons, redemptions, imported code pools and
-- bulk-issue jobs. Owned by the coupon service, which shares only the
-- identity tables (merchant, api_key) and idempotency with the campaign
-- service. Times are INTEGER unix ms, ids TEXT uuids, money INTEGER cents.

CREATE TABLE coupon_template (
    template_id         TEXT PRIMARY KEY,
    merchant_id         TEXT NOT NULL REFERENCES merchant (merchant_id),
    name                TEXT NOT NULL,
    kind                TEXT NOT NULL
        CHECK (kind IN ('AMOUNT_OFF', 'PERCENT_OFF', 'SPEND_THRESHOLD', 'GIFT_ITEM')),
    amount_off_cents    INTEGER NOT NULL CHECK (amount_off_cents >= 0),
    percent_off         INTEGER NOT NULL CHECK (percent_off BETWEEN 0 AND 100),
    max_discount_cents  INTEGER NOT NULL CHECK (max_discount_cents >= 0),
    min_spend_cents     INTEGER NOT NULL CHECK (min_spend_cents >= 0),
    gift_item           TEXT NOT NULL,
    valid_from          INTEGER,
    valid_until         INTEGER,
    valid_days          INTEGER NOT NULL CHECK (valid_days >= 0),
    total_supply        INTEGER NOT NULL,
    -- The supply guard: `UPDATE ... SET issued = issued + n WHERE issued + n
    -- <= total_supply`, with this CHECK as the backstop.
    issued              INTEGER NOT NULL CHECK (issued >= 0 AND issued <= total_supply),
    per_user_limit      INTEGER NOT NULL CHECK (per_user_limit >= 0),
    -- Newline-separated store ids; empty = every store.
    store_ids           TEXT NOT NULL,
    created_at          INTEGER NOT NULL
);
CREATE INDEX coupon_template_merchant ON coupon_template (merchant_id);

-- Coupons one player holds per template: the per-user limit guard.
CREATE TABLE coupon_player_count (
    template_id  TEXT NOT NULL REFERENCES coupon_template (template_id),
    player_id    TEXT NOT NULL,
    held         INTEGER NOT NULL CHECK (held >= 0),
    PRIMARY KEY (template_id, player_id)
);

CREATE TABLE coupon (
    coupon_id      TEXT PRIMARY KEY,
    merchant_id    TEXT NOT NULL REFERENCES merchant (merchant_id),
    template_id    TEXT NOT NULL REFERENCES coupon_template (template_id),
    -- Normalised code with its check character; looked up by merchant.
    code           TEXT NOT NULL UNIQUE,
    player_id      TEXT,
    source         TEXT NOT NULL CHECK (source IN ('claim', 'prize', 'bulk')),
    -- For a prize: the draw id. One coupon per draw, ever.
    source_id      TEXT UNIQUE,
    bulk_job_id    TEXT,
    valid_from     INTEGER NOT NULL,
    valid_until    INTEGER NOT NULL,
    -- The live redemption; NULL while usable. Set only by a guarded
    -- `UPDATE ... WHERE redemption_id IS NULL`.
    redemption_id  TEXT,
    issued_at      INTEGER NOT NULL
);
CREATE INDEX coupon_player ON coupon (merchant_id, player_id, issued_at);
CREATE INDEX coupon_by_bulk_job ON coupon (bulk_job_id);

CREATE TABLE coupon_redemption (
    redemption_id       TEXT PRIMARY KEY,
    coupon_id           TEXT NOT NULL REFERENCES coupon (coupon_id),
    merchant_id         TEXT NOT NULL,
    store_id            TEXT NOT NULL,
    pos_key_id          TEXT NOT NULL,
    idem_key            TEXT NOT NULL,
    order_amount_cents  INTEGER NOT NULL CHECK (order_amount_cents >= 0),
    discount_cents      INTEGER NOT NULL CHECK (discount_cents >= 0),
    order_ref           TEXT NOT NULL,
    redeemed_at         INTEGER NOT NULL,
    reversal_id         TEXT UNIQUE,
    reversed_at         INTEGER,
    reversal_reason     TEXT,
    UNIQUE (pos_key_id, idem_key),
    CHECK ((reversal_id IS NULL) = (reversed_at IS NULL))
);
-- At most one live (unreversed) redemption per coupon: invariant 4 as a
-- constraint, behind the guarded update on coupon.redemption_id.
CREATE UNIQUE INDEX coupon_redemption_live ON coupon_redemption (coupon_id)
    WHERE reversed_at IS NULL;

-- Supplier codes (top-up / recharge), each handed out at most once.
CREATE TABLE code_pool (
    pool_id      TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES merchant (merchant_id),
    name         TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE pool_code (
    pool_id      TEXT NOT NULL REFERENCES code_pool (pool_id),
    seq          INTEGER NOT NULL,
    code         TEXT NOT NULL,
    player_id    TEXT,
    -- The draw id of the prize it went to, and the hand-out's own id.
    source_id    TEXT UNIQUE,
    handout_id   TEXT UNIQUE,
    handed_at    INTEGER,
    PRIMARY KEY (pool_id, seq),
    UNIQUE (pool_id, code),
    CHECK ((source_id IS NULL) = (handed_at IS NULL))
);
CREATE INDEX pool_code_free ON pool_code (pool_id, seq) WHERE source_id IS NULL;
CREATE INDEX pool_code_player ON pool_code (player_id) WHERE player_id IS NOT NULL;

CREATE TABLE coupon_bulk_job (
    job_id       TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES merchant (merchant_id),
    template_id  TEXT NOT NULL REFERENCES coupon_template (template_id),
    requested    INTEGER NOT NULL CHECK (requested > 0),
    issued       INTEGER NOT NULL CHECK (issued >= 0 AND issued <= requested),
    state        TEXT NOT NULL CHECK (state IN ('RUNNING', 'DONE', 'FAILED')),
    error        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER
);
