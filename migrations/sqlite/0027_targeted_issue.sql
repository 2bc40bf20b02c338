-- no-transaction
-- Targeted issue (issue 24): a template's coupons issued to a list of
-- openids (a member segment the merchant uploads) as one bulk job.
--
-- `coupon_target_job` is the job: OPEN while openids are appended, RUNNING
-- once started (the worker decides its targets in batches), DONE or FAILED.
-- `coupon_target` holds one row per distinct openid of a job (UNIQUE
-- (job_id, openid): duplicates in the list count once). A target is
-- decided once, by a guarded `UPDATE ... WHERE state = 'PENDING'` in the
-- same transaction as its coupon; the coupon's `source_id` is the
-- target's id (UNIQUE), so a resumed or racing worker never issues twice.
--
-- Coupons gain the source 'targeted'. SQLite cannot change a CHECK in
-- place, so `coupon` is rebuilt (the 12-step procedure of the SQLite
-- manual: foreign keys off around one transaction, hence `no-transaction`
-- above; `coupon_redemption` keeps referencing it by name). The copy
-- rewrites every coupon once.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE coupon_v2 (
    coupon_id      TEXT PRIMARY KEY,
    merchant_id    TEXT NOT NULL REFERENCES merchant (merchant_id),
    template_id    TEXT NOT NULL REFERENCES coupon_template (template_id),
    -- A keyed digest of the code (`domain::vault`).
    code_digest    TEXT NOT NULL UNIQUE,
    player_id      TEXT,
    source         TEXT NOT NULL CHECK (source IN ('claim', 'prize', 'bulk', 'targeted')),
    -- A prize: the draw or award id; a targeted coupon: its target's id.
    -- One coupon per source, ever.
    source_id      TEXT UNIQUE,
    bulk_job_id    TEXT,
    valid_from     INTEGER NOT NULL,
    valid_until    INTEGER NOT NULL,
    -- The live redemption; NULL while usable. Set only by a guarded
    -- `UPDATE ... WHERE redemption_id IS NULL`.
    redemption_id  TEXT,
    issued_at      INTEGER NOT NULL,
    code_sealed    BLOB,
    campaign_id    TEXT
);
INSERT INTO coupon_v2 (coupon_id, merchant_id, template_id, code_digest, player_id, source,
    source_id, bulk_job_id, valid_from, valid_until, redemption_id, issued_at, code_sealed,
    campaign_id)
SELECT coupon_id, merchant_id, template_id, code_digest, player_id, source, source_id,
    bulk_job_id, valid_from, valid_until, redemption_id, issued_at, code_sealed, campaign_id
FROM coupon;
DROP TABLE coupon;
ALTER TABLE coupon_v2 RENAME TO coupon;
CREATE INDEX coupon_player ON coupon (merchant_id, player_id, issued_at);
CREATE INDEX coupon_by_bulk_job ON coupon (bulk_job_id);
CREATE INDEX coupon_code_unsealed ON coupon (coupon_id) WHERE code_sealed IS NULL;
CREATE INDEX coupon_by_campaign ON coupon (campaign_id, source_id)
    WHERE campaign_id IS NOT NULL;
CREATE INDEX coupon_by_template ON coupon (template_id, issued_at, coupon_id);

CREATE TABLE coupon_target_job (
    job_id       TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES merchant (merchant_id),
    template_id  TEXT NOT NULL REFERENCES coupon_template (template_id),
    state        TEXT NOT NULL CHECK (state IN ('OPEN', 'RUNNING', 'DONE', 'FAILED')),
    -- Openids received, duplicates included; distinct ones (targets).
    received     INTEGER NOT NULL CHECK (received >= targets),
    targets      INTEGER NOT NULL CHECK (targets >= 0 AND targets <= 100000),
    issued       INTEGER NOT NULL CHECK (issued >= 0),
    refused      INTEGER NOT NULL CHECK (refused >= 0),
    error        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    CHECK (issued + refused <= targets)
);
CREATE INDEX coupon_target_job_merchant_created
    ON coupon_target_job (merchant_id, created_at, job_id);
CREATE INDEX coupon_target_job_running ON coupon_target_job (job_id) WHERE state = 'RUNNING';

CREATE TABLE coupon_target (
    -- UUIDv7, made when the openid is appended: the report's order and
    -- the coupon's source_id.
    target_id    TEXT PRIMARY KEY,
    job_id       TEXT NOT NULL REFERENCES coupon_target_job (job_id),
    -- Exactly as a player token's `sub`: the coupon's player_id.
    openid       TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('PENDING', 'ISSUED', 'REFUSED')),
    -- Why refused ('per_user_limit', 'supply_exhausted',
    -- 'template_expired'); empty otherwise.
    reason       TEXT NOT NULL,
    coupon_id    TEXT UNIQUE,
    decided_at   INTEGER,
    UNIQUE (job_id, openid),
    CHECK ((state = 'ISSUED') = (coupon_id IS NOT NULL)),
    CHECK ((state = 'REFUSED') = (reason <> '')),
    CHECK ((state = 'PENDING') = (decided_at IS NULL))
);
CREATE INDEX coupon_target_by_job ON coupon_target (job_id, target_id);
CREATE INDEX coupon_target_pending ON coupon_target (job_id, target_id) WHERE state = 'PENDING';
COMMIT;
PRAGMA foreign_keys = ON;
